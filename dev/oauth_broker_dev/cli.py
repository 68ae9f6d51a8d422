"""`oauth-broker`: the local runtime's command line.

oauth-broker dev [--port N] [--providers-file F] [--reset]   serve the whole broker on 127.0.0.1
oauth-broker dev-token [--tenant T] [--user U] [--admin]     print a JWT the local broker accepts
oauth-broker invoke FUNCTION -e events/FILE.json             run one function with a saved event
oauth-broker google risc-register --service-account F --endpoint URL [--events E ...]
oauth-broker google risc-status --service-account F          Cross-Account Protection stream
oauth-broker google risc-test --service-account F [--state S]  ask Google for a verification event

Mistakes in a command (a busy port, an unknown function, a missing event file) are one line on
stderr, `oauth-broker: ...`, and exit code 2.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

from oauth_broker_dev.google_risc import RiscApiError
from oauth_broker_dev.invoke import InvokeError

TOKEN_HOURS = 12


class CliError(Exception):
    """One line for the user; exit code 2."""


def _interrupt(signum: int, frame: Any) -> NoReturn:
    """Ctrl-C or SIGTERM: stop. A second one while stopping is ignored, so the last save of the
    local data is not cut short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _data_dir() -> Path:
    from oauth_broker_dev import devidp

    return devidp.state_dir()


def _reset(data_dir: Path) -> list[str]:
    """Delete the persisted local data (the store, the metrics written; the dev IdP key stays, so
    tokens stay valid)."""
    from oauth_broker_dev.persistence import RUNNING_FILE
    from oauth_broker_dev.server import METRICS_FILE, STORE_FILE

    removed = []
    for path in (
        sorted(data_dir.glob(f"{STORE_FILE}*"))
        + sorted(data_dir.glob("providers.fake-google.*.json"))
        + sorted(data_dir.glob(METRICS_FILE))
    ):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    (data_dir / RUNNING_FILE).unlink(missing_ok=True)
    return removed


def _dev(args: argparse.Namespace) -> int:
    from oauth_broker_dev.aws_local import port_in_use
    from oauth_broker_dev.persistence import DataDirBusy, DataDirClaim
    from oauth_broker_dev.server import LocalBroker, LocalBrokerOptions

    providers = args.providers_file or os.environ.get("BROKER_PROVIDERS_FILE")
    if providers:
        _check_providers_file(providers)
    data_dir = _data_dir()
    claim = DataDirClaim(data_dir)
    try:
        claim.acquire()
    except DataDirBusy as busy:
        where = busy.running.get("base_url", "another port")
        raise CliError(
            f"another oauth-broker dev (pid {busy.running.get('pid', '?')}, {where}) is using the data in "
            f"{data_dir}; stop it first, or give this one its own: BROKER_STATE_DIR=<dir>"
        ) from None
    try:
        if port_in_use(args.port):
            raise CliError(f"port {args.port} is in use; PORT={_next_free(args.port)} make dev")
        if args.reset:
            _reset(data_dir)
        real_google = bool(os.environ.get("GOOGLE_CLIENT_ID") and os.environ.get("GOOGLE_CLIENT_SECRET"))
        broker = LocalBroker(
            LocalBrokerOptions(
                port=args.port,
                providers_file=providers,
                fake_google=not real_google,
                persist=True,
                state_dir=data_dir,
                verbose=_debug(),
            )
        )

        def ready() -> None:
            claim.publish(broker.base_url)
            print(_banner(broker.base_url, real_google, data_dir), flush=True)

        # Ctrl-C and SIGTERM both stop it cleanly (the last save of the data included), even when
        # started from a shell that ignores SIGINT in background jobs.
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            broker.serve_forever(ready=ready)
        except KeyboardInterrupt:
            pass
        except OSError as exc:  # lost a race for the port after the check
            if exc.errno == errno.EADDRINUSE:
                raise CliError(f"port {args.port} is in use; PORT={_next_free(args.port)} make dev") from None
            raise
    finally:
        claim.release()
    return 0


def _banner(base_url: str, real_google: bool, data_dir: Path) -> str:
    admin = _mint(tenant="demo", user="admin@demo", admin=True)
    google = "real Google (GOOGLE_CLIENT_ID is set)" if real_google else "the built-in fake Google"
    return (
        f"oauth-broker is serving on {base_url}\n"
        f"  demo page:  {base_url}/demo/\n"
        f"  API docs:   {base_url}/docs   (OpenAPI: {base_url}/v1/openapi.json)\n"
        f"  health:     {base_url}/v1/health\n"
        f"  callback:   {base_url}/v1/oauth/callback   (the redirect URI to register)\n"
        f"  Google:     {google}\n"
        f"  data:       {data_dir} (kept across restarts; `make dev-reset` starts clean)\n"
        f"  metrics:    {os.environ.get('BROKER_METRICS_FILE') or 'stdout'} (CloudWatch EMF, one per line)\n"
        f"  admin dev token (tenant demo, user admin@demo), valid {TOKEN_HOURS} hours; "
        "`make token` mints another:\n"
        f"    {admin}\n"
        "Ctrl-C stops it."
    )


def _next_free(port: int) -> int:
    from oauth_broker_dev.aws_local import port_in_use

    return next((p for p in range(port + 1, min(port + 50, 65536)) if not port_in_use(p)), port + 1)


def _debug() -> bool:
    level = os.environ.get("LOG_LEVEL") or os.environ.get("POWERTOOLS_LOG_LEVEL") or ""
    return level.upper() == "DEBUG"


def _check_providers_file(path: str) -> None:
    from oauth_broker.providers.catalog import ProviderCatalog, ProviderCatalogError

    try:
        ProviderCatalog.load(path, allow_loopback=True)
    except (ProviderCatalogError, OSError) as exc:
        raise CliError(f"bad providers file: {exc}") from None


def _mint(tenant: str, user: str, admin: bool) -> str:
    from oauth_broker_dev import devidp

    return devidp.mint(tenant, user, admin=admin, ttl_seconds=TOKEN_HOURS * 3600)


def _principal(args: argparse.Namespace) -> Any:
    from oauth_broker_dev.invoke import Principal

    return Principal(args.tenant, args.user, args.admin)


def _dev_token(args: argparse.Namespace) -> int:
    principal = _principal(args)
    print(_mint(principal.tenant, principal.user, principal.is_admin))
    return 0


def _dev_reset(args: argparse.Namespace) -> int:
    from oauth_broker_dev.persistence import DataDirBusy, DataDirClaim

    data_dir = _data_dir()
    try:
        claim = DataDirClaim(data_dir).acquire()
    except DataDirBusy:
        raise CliError(f"oauth-broker dev is running on the data in {data_dir}; stop it first") from None
    try:
        removed = _reset(data_dir)
    finally:
        claim.release()
    print(f"oauth-broker: local data in {data_dir} {'deleted' if removed else 'was already empty'}")
    return 0


def _invoke(args: argparse.Namespace) -> int:
    from oauth_broker_dev import lambda_runtime
    from oauth_broker_dev.invoke import Invocation, choose_target, load_event, parse_replacements, run

    if args.function not in lambda_runtime.known_functions():
        raise CliError(
            f"unknown function {args.function!r}; one of: {', '.join(lambda_runtime.known_functions())}"
        )
    invocation = Invocation(
        function=args.function,
        event=load_event(args.event, read_stdin=sys.stdin.read),
        principal=_principal(args),
        replacements=parse_replacements(args.replace or []),
    )
    # The result alone goes to stdout: everything else (the functions' JSON logs, EMF metrics,
    # warnings) is written to file descriptor 1 too, so fd 1 points at stderr while it runs.
    sys.stdout.flush()
    result_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    with result_out:
        target = choose_target(
            endpoint=args.endpoint,
            standalone=args.standalone,
            state_dir=_data_dir(),
            providers_file=args.providers_file,
        )
        try:
            result, ok = run(invocation, target, log=lambda line: print(line, file=sys.stderr, flush=True))
        finally:
            target.close()
            sys.stdout.flush()
        result_out.write(json.dumps(result, indent=2, default=str) + "\n")
    return 0 if ok else 1


def _risc_api(args: argparse.Namespace) -> Any:
    from oauth_broker_dev.google_risc import RiscApi, load_service_account

    return RiscApi(load_service_account(args.service_account), api_base=args.api_base)


def _risc_register(args: argparse.Namespace) -> int:
    from oauth_broker_dev.google_risc import event_uris

    events = event_uris(args.events)
    stream = _risc_api(args).register(args.endpoint, events)
    print(json.dumps(stream, indent=2))
    print(f"oauth-broker: Google will push {len(events)} event type(s) to {args.endpoint}", file=sys.stderr)
    return 0


def _risc_status(args: argparse.Namespace) -> int:
    print(json.dumps(_risc_api(args).status(), indent=2))
    return 0


def _risc_test(args: argparse.Namespace) -> int:
    import secrets

    state = args.state or f"oauth-broker risc-test {secrets.token_hex(4)}"
    _risc_api(args).verify(state)
    print(json.dumps({"verification_requested": True, "state": state}, indent=2))
    print(
        "oauth-broker: Google sends a verification event with this state to the registered receiver; "
        "the receiver logs it and answers 202",
        file=sys.stderr,
    )
    return 0


def _add_google_commands(sub: Any) -> None:
    from oauth_broker_dev.google_risc import EVENT_TYPES, RISC_API

    google = sub.add_parser("google", help="Google Cross-Account Protection (RISC) registration")
    commands = google.add_subparsers(dest="google_command", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--service-account",
            required=True,
            metavar="FILE",
            help="JSON key of a service account with the RISC Configuration Admin role",
        )
        parser.add_argument("--api-base", default=RISC_API, help=f"the RISC API (default: {RISC_API})")

    reg = commands.add_parser(
        "risc-register", help="register the receiver: Google pushes security events to it"
    )
    common(reg)
    reg.add_argument("--endpoint", required=True, help="the receiver: <ApiUrl>/v1/google/risc")
    reg.add_argument(
        "--events",
        nargs="+",
        metavar="EVENT",
        help=f"event types, short names or URIs (default: all: {', '.join(EVENT_TYPES)})",
    )
    reg.set_defaults(func=_risc_register)

    status = commands.add_parser("risc-status", help="the registered stream and whether it is enabled")
    common(status)
    status.set_defaults(func=_risc_status)

    test = commands.add_parser("risc-test", help="ask Google to send a verification event to the receiver")
    common(test)
    test.add_argument("--state", help="a string the verification event carries (default: a random one)")
    test.set_defaults(func=_risc_test)


def _add_principal_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", default="demo", help="the token's tenant (default: demo)")
    parser.add_argument(
        "--user", default="admin@demo", help="the token's user, its sub (default: admin@demo)"
    )
    parser.add_argument(
        "--admin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="member of the broker-admin group (default: only for the default user admin@demo)",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oauth-broker", description="oauth-broker local runtime")
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="serve the whole broker on 127.0.0.1")
    dev.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    dev.add_argument("--providers-file", help="extra or overriding provider definitions (YAML or JSON)")
    dev.add_argument("--reset", action="store_true", help="delete the saved local data first (start clean)")
    dev.set_defaults(func=_dev)

    reset = sub.add_parser("dev-reset", help="delete the saved local data (`make dev-reset`)")
    reset.set_defaults(func=_dev_reset)

    tok = sub.add_parser(
        "dev-token", help=f"print a JWT the local broker accepts (valid {TOKEN_HOURS} hours)"
    )
    _add_principal_options(tok)
    tok.set_defaults(func=_dev_token)

    inv = sub.add_parser("invoke", help="run one function in-process with a saved event")
    inv.add_argument("function", help="authorizer, authorize, callback, api, proxy, refresh or webhook")
    inv.add_argument("-e", "--event", required=True, help="event JSON file (as sam local invoke -e), or -")
    inv.add_argument(
        "--endpoint", help="a running oauth-broker dev's URL (default: the one serving this data directory)"
    )
    inv.add_argument("--standalone", action="store_true", help="ignore a running oauth-broker dev")
    inv.add_argument(
        "--replace", action="append", metavar="OLD=NEW", help="replace a string in the event (repeatable)"
    )
    inv.add_argument("--providers-file")
    _add_principal_options(inv)
    inv.set_defaults(func=_invoke)

    _add_google_commands(sub)

    args = parser.parse_args(argv)
    if getattr(args, "providers_file", None) is None and os.environ.get("BROKER_PROVIDERS_FILE"):
        args.providers_file = os.environ["BROKER_PROVIDERS_FILE"]
    try:
        return int(args.func(args))
    except (CliError, InvokeError, RiscApiError) as exc:
        print(f"oauth-broker: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
