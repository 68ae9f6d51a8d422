"""The e2e suite runs `make dev`'s server (`oauth-broker dev`) as a subprocess on a free port, and
Debian's Chromium (headless, through Playwright) against it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from e2e.demo_page import CHROMIUM, CHROMIUM_ARGS, demo_page
from oauth_broker_dev.aws_local import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunningBroker:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def local_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    port = free_port()
    state = tmp_path_factory.getbasetemp() / "broker-state"
    log_path = tmp_path_factory.mktemp("broker") / "broker.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in ("GOOGLE_CLIENT_ID",)}
    env.update(BROKER_STATE_DIR=str(state), PYTHONUNBUFFERED="1")
    cli = [sys.executable, "-m", "oauth_broker_dev.cli", "dev", "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cli, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    broker = RunningBroker(f"http://127.0.0.1:{port}", proc, log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"oauth-broker dev exited early:\n{broker.log()}")
            try:
                if httpx.get(f"{broker.base_url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"oauth-broker dev did not come up in 60 s:\n{broker.log()}")
            time.sleep(0.2)
        yield broker
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's chromium (/usr/bin/chromium; `make test` installs it). Popup blocking stays ON
    (Playwright turns it off by default), so a popup that is not opened inside a click fails."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make system-deps` installs it"
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            ignore_default_args=["--disable-popup-blocking"],
        )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def demo(browser: Browser, local_broker: RunningBroker) -> Iterator[Page]:
    """The demo page in a browser of its own, reaching nothing but the local broker."""
    with demo_page(browser, local_broker.base_url) as page:
        yield page
