"""`oauth-broker invoke`: one function, one saved event, in-process (the stand-in for
`sam local invoke -e events/X.json`).

- The event's `REPLACE_WITH_DEV_TOKEN` placeholder becomes a fresh dev token (tenant/user/admin
  chosen by the caller); in an HTTP event of an authorized route the authorizer then runs on it, as
  the gateway would, and its context replaces the event's `requestContext.authorizer`.
- `--replace OLD=NEW` substitutes strings anywhere in the event (`con_x=con_...` for the proxy).
- Against a running `oauth-broker dev` (found through `<data dir>/dev-server.json`, or named with
  `--endpoint`) the function gets that broker's environment: its AWS (moto) endpoint and data, its
  dev IdP's JWKS and its fake Google. Otherwise a throwaway broker (empty store, JWKS and fake
  Google served on a free loopback port) runs for the one invocation.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

TOKEN_PLACEHOLDER = "REPLACE_WITH_DEV_TOKEN"
DEFAULT_TENANT = "demo"
DEFAULT_USER = "admin@demo"


class InvokeError(Exception):
    """A mistake in the command (unknown function, unreadable event...): one line, exit 2."""


@dataclass(frozen=True)
class Principal:
    tenant: str = DEFAULT_TENANT
    user: str = DEFAULT_USER
    admin: bool | None = None  # None: admin only for the default user (as the `make dev` banner's)

    @property
    def is_admin(self) -> bool:
        return self.user == DEFAULT_USER if self.admin is None else self.admin


@dataclass
class Invocation:
    function: str
    event: dict[str, Any]
    principal: Principal = field(default_factory=Principal)
    replacements: dict[str, str] = field(default_factory=dict)


# -- the event -------------------------------------------------------------------------------------


def load_event(source: str, read_stdin: Callable[[], str] | None = None) -> dict[str, Any]:
    """The event in file `source` (`-`: standard input), or InvokeError naming what is wrong."""
    name = "standard input" if source == "-" else source
    try:
        text = read_stdin() if source == "-" and read_stdin else Path(source).read_text()
    except FileNotFoundError:
        raise InvokeError(f"event file {name} not found (the saved events are in events/)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvokeError(f"event file {name} cannot be read: {exc}") from None
    try:
        event = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvokeError(f"event file {name} is not valid JSON: {exc}") from None
    if not isinstance(event, dict):
        raise InvokeError(f"event file {name} holds a JSON {type(event).__name__}, not an object")
    return event


def parse_replacements(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old:
            raise InvokeError(f"--replace wants OLD=NEW, got {pair!r}")
        out[old] = new
    return out


def substitute(value: Any, replacements: dict[str, str]) -> Any:
    """`value` with each OLD replaced by NEW in every string it holds (keys stay)."""
    if isinstance(value, str):
        for old, new in replacements.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: substitute(v, replacements) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, replacements) for v in value]
    return value


def has_placeholder(event: Any) -> bool:
    return TOKEN_PLACEHOLDER in json.dumps(event)


def is_authorized_http_event(event: dict[str, Any]) -> bool:
    """A payload-2.0 request of an authorized route (it carries the authorizer's context)."""
    ctx = event.get("requestContext") or {}
    return event.get("type") != "REQUEST" and "http" in ctx and "authorizer" in ctx


def route_path(event: dict[str, Any]) -> str:
    return str(event.get("routeKey", "")).split(" ", 1)[-1] or str(event.get("rawPath", "/"))


# -- where it runs -------------------------------------------------------------------------------


def running_broker(base_url: str) -> dict[str, Any] | None:
    """The running broker's runtime (`/_local/runtime.json`), or None when nothing answers there."""
    try:
        resp = httpx.get(f"{base_url.rstrip('/')}/_local/runtime.json", timeout=3)
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    data = resp.json()
    return data if isinstance(data, dict) and isinstance(data.get("environment"), dict) else None


class Target:
    """Where the function runs: `prepare()` sets the process up, `token()` mints, `close()` ends."""

    description = ""

    def prepare(self) -> None: ...

    def token(self, principal: Principal) -> str:
        raise NotImplementedError

    def close(self) -> None: ...


class RunningDev(Target):
    def __init__(self, runtime: dict[str, Any]):
        self.runtime = runtime
        self.base_url = str(runtime["base_url"])
        self.description = f"the running broker at {self.base_url} (its AWS and data)"
        self._broker: Any = None

    def prepare(self) -> None:
        from oauth_broker_dev.server import LocalBroker, LocalBrokerOptions

        env = {str(k): str(v) for k, v in self.runtime["environment"].items()}
        self._broker = LocalBroker(
            LocalBrokerOptions(
                aws_endpoint=env.get("AWS_ENDPOINT_URL"),
                fake_google=False,
                work_queue=False,  # the running broker's pollers consume its queue (REFRESH_QUEUE_URL)
                table_name=env.get("TABLE_NAME", "oauth-broker-local"),
                bus_name=env.get("EVENT_BUS_NAME", "oauth-broker-local"),
                extra_env={k: v for k, v in env.items() if k != "AWS_ENDPOINT_URL"},
            )
        )
        self._broker._prepare()

    def token(self, principal: Principal) -> str:
        """Minted by the running broker's dev IdP, so its JWKS verifies it whatever our data dir."""
        resp = httpx.post(
            f"{self.base_url}/dev-idp/token",
            json={"tenant": principal.tenant, "user": principal.user, "admin": principal.is_admin},
            timeout=5,
        )
        if resp.status_code != 200:
            raise InvokeError(f"the broker at {self.base_url} did not mint a dev token ({resp.status_code})")
        return str(resp.json()["token"])

    def close(self) -> None:
        if self._broker is not None:
            self._broker.stop()


class Throwaway(Target):
    description = "a throwaway local broker (empty store; start `make dev` to use its data)"

    def __init__(self, providers_file: str | None):
        self.providers_file = providers_file
        self._broker: Any = None

    def prepare(self) -> None:
        from oauth_broker_dev.server import LocalBroker, LocalBrokerOptions

        # Served on a free loopback port for the invocation: the authorizer fetches the dev IdP's
        # JWKS from it, and provider calls reach its fake Google.
        self._broker = LocalBroker(LocalBrokerOptions(providers_file=self.providers_file)).start()

    def token(self, principal: Principal) -> str:
        from oauth_broker_dev import devidp

        return devidp.mint(principal.tenant, principal.user, admin=principal.is_admin)

    def close(self) -> None:
        if self._broker is not None:
            self._broker.stop()


def choose_target(
    *, endpoint: str | None, standalone: bool, state_dir: Path, providers_file: str | None
) -> Target:
    from oauth_broker_dev.persistence import read_running

    if endpoint:
        runtime = running_broker(endpoint)
        if runtime is None:
            raise InvokeError(f"no oauth-broker dev answers at {endpoint} (is `make dev` running there?)")
        return RunningDev(runtime)
    running = None if standalone else read_running(state_dir)
    if running is not None:
        runtime = running_broker(running["base_url"])
        if runtime is not None and runtime.get("pid") == running.get("pid"):  # not a stale file
            return RunningDev(runtime)
    return Throwaway(providers_file)


# -- the invocation ------------------------------------------------------------------------------


def run(invocation: Invocation, target: Target, log: Callable[[str], None]) -> tuple[Any, bool]:
    """(result, ok): the function's result, or Lambda's error shape when it raised (logged)."""
    from oauth_broker_dev import lambda_runtime
    from oauth_broker_dev.gateway import authorizer_event

    if invocation.function not in lambda_runtime.known_functions():
        raise InvokeError(f"unknown function {invocation.function!r}")
    log(f"oauth-broker: invoking {invocation.function} on {target.description}")
    target.prepare()
    event = substitute(invocation.event, invocation.replacements)
    filled = has_placeholder(event)
    if filled:
        event = substitute(event, {TOKEN_PLACEHOLDER: target.token(invocation.principal)})
    try:
        if filled and invocation.function != "authorizer" and is_authorized_http_event(event):
            # As the gateway does: the authorizer's context, for the token just minted.
            auth_header = {k.lower(): v for k, v in (event.get("headers") or {}).items()}.get("authorization")
            decision = lambda_runtime.invoke(
                "authorizer", authorizer_event(event, route_path(event), [auth_header])
            )
            if not (isinstance(decision, dict) and decision.get("isAuthorized") is True):
                raise InvokeError("the authorizer denied the minted dev token (see the log above)")
            event["requestContext"]["authorizer"] = {"lambda": decision.get("context") or {}}
        return lambda_runtime.invoke(invocation.function, event), True
    except InvokeError:
        raise
    except Exception as exc:  # the function failed: Lambda reports it as a result
        log(traceback.format_exc().rstrip())
        return {"errorType": type(exc).__name__, "errorMessage": str(exc)}, False
