"""The `oauth-broker` command line as a person runs it: a subprocess on a free 127.0.0.1 port with
its own data directory (BROKER_STATE_DIR), always stopped by the test that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from oauth_broker_dev.aws_local import free_port

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "oauth_broker_dev.cli"]
GMAIL_SCOPES = ["openid", "email", "https://www.googleapis.com/auth/gmail.readonly"]


def cli_env(state_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AWS_") and k not in ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "LOG_LEVEL")
    }
    env.update(BROKER_STATE_DIR=str(state_dir), PYTHONUNBUFFERED="1", **extra)
    return env


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


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    base_url: str
    out: Path
    err: Path

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 20) -> int:
        """Stop it as a person would (Ctrl-C by default); its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
                raise AssertionError(f"oauth-broker dev ignored signal {sig}:\n{self.stderr()}") from None
        return int(self.process.returncode)


@contextmanager
def dev_server(state_dir: Path, *args: str, port: int | None = None, **env: str) -> Iterator[DevServer]:
    """`oauth-broker dev [args]` running and healthy; stopped (and killed if need be) at the end."""
    port = port or free_port()
    logs = state_dir.parent / f"dev-{port}-{time.monotonic_ns()}"
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / "stdout.txt", logs / "stderr.txt"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            [*CLI, "dev", "--port", str(port), *args],
            cwd=REPO,
            env=cli_env(state_dir, **env),
            stdout=o,
            stderr=e,
        )
    server = DevServer(proc, f"http://127.0.0.1:{port}", out, err)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"oauth-broker dev exited early:\n{server.stdout()}\n{server.stderr()}")
            try:
                if httpx.get(f"{server.base_url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"oauth-broker dev did not come up in 60 s:\n{server.stderr()}")
            time.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


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
    session = http.post(
        "/v1/connect-sessions",
        headers=bearer(token),
        json={
            "provider": "google-mail",
            "oauth_client_id": oauth_client_id,
            "return_to": f"{base_url}/done",
            "mode": "redirect",
            "scopes": GMAIL_SCOPES,
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
        "/v1/connect-sessions/confirm", headers=bearer(token), json={"confirmation": confirmation}
    )
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "active", confirmed.text
    return str(confirmed.json()["id"])
