"""The `oauth-broker` command line as a person runs it: a subprocess on a free 127.0.0.1 port with
its own data directory (BROKER_STATE_DIR), always stopped by the test that started it."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from oauth_broker_dev.aws_local import free_port
from oauth_broker_dev.dev_process import CLI, REPO, DevProcess, dev_env, running_dev_server

GMAIL_SCOPES = ["openid", "email", "https://www.googleapis.com/auth/gmail.readonly"]


def cli_env(state_dir: Path, **extra: str) -> dict[str, str]:
    return dev_env(state_dir, extra, drop=("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "LOG_LEVEL"))


def run_cli(*args: str, state_dir: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=REPO,
        env=cli_env(state_dir, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class DevServer(DevProcess):
    def stop(self, sig: int = signal.SIGINT, timeout: float = 20) -> int:
        """Stop it as a person would (Ctrl-C by default); its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError(f"oauth-broker dev ignored signal {sig}:\n{self.stderr()}") from None
        return int(self.proc.returncode)


@contextmanager
def dev_server(state_dir: Path, *args: str, port: int | None = None, **env: str) -> Iterator[DevServer]:
    """`oauth-broker dev [args]` running and healthy; stopped (and killed if need be) at the end."""
    port = port or free_port()
    logs = state_dir.parent / f"dev-{port}-{time.monotonic_ns()}"
    logs.mkdir(parents=True, exist_ok=True)
    with running_dev_server(
        state_dir=state_dir,
        log=logs / "stdout.txt",
        stderr_log=logs / "stderr.txt",
        port=port,
        env=cli_env(state_dir, **env),
        extra_args=args,
        stop_timeout=20,
    ) as dev:
        yield DevServer(dev.base_url, dev.proc, dev.log_path, dev.stderr_path)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register_client(http: httpx.Client, admin_token: str, name: str = "Local Gmail app") -> str:
    resp = http.post(
        "/v1/oauth-clients",
        headers=bearer(admin_token),
        json={
            "name": name,
            "provider": "google-mail",
            "client_id": "local-e2e.apps.googleusercontent.com",
            "client_secret": "local-e2e-client-secret",
        },
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def connect(http: httpx.Client, token: str, oauth_client_id: str) -> str:
    """The connect flow as `token`'s user (an admin: it allows the return origin), the fake
    Google's consent control standing in for a browser; the new connection's id."""
    base_url = str(http.base_url).rstrip("/")
    settings = http.patch("/v1/settings", headers=bearer(token), json={"allowed_return_origins": [base_url]})
    assert settings.status_code == 200, settings.text
    return consent_connect(http, bearer(token), oauth_client_id, GMAIL_SCOPES)


def consent_connect(
    http: httpx.Client, headers: dict[str, str], oauth_client_id: str, scopes: list[str]
) -> str:
    """A redirect-mode connect session as the caller `headers` name, consent given through the fake
    Google's non-browser control, the callback followed and the result confirmed: the id of the new
    (active) connection. The return origin must already be allowed."""
    base_url = str(http.base_url).rstrip("/")
    session = http.post(
        "/v1/connect-sessions",
        headers=headers,
        json={
            "provider": "google-mail",
            "oauth_client_id": oauth_client_id,
            "return_to": f"{base_url}/done",
            "mode": "redirect",
            "scopes": scopes,
        },
    )
    assert session.status_code == 201, session.text
    to_google = http.get(session.json()["authorize_url"])
    assert to_google.status_code == 302, to_google.text
    consent = http.post(
        "/fake-google/_control/consent", json={"authorize_url": to_google.headers["location"]}
    )
    assert consent.status_code == 200, consent.text
    back = http.get(consent.json()["location"])
    assert back.status_code == 303, back.text
    confirmation = parse_qs(urlsplit(back.headers["location"]).query)["confirmation"][0]
    confirmed = http.post(
        "/v1/connect-sessions/confirm", headers=headers, json={"confirmation": confirmation}
    )
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "active", confirmed.text
    return str(confirmed.json()["id"])
