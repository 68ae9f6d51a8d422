"""The e2e suite runs `make dev`'s server (`oauth-broker dev`) as a subprocess on a free port, and
Debian's Chromium (headless, through Playwright) against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from e2e.demo_page import CHROMIUM, CHROMIUM_ARGS, demo_page
from oauth_broker_dev.dev_process import DevProcess, running_dev_server

RunningBroker = DevProcess  # the name the e2e and fuzz suites know it by


@pytest.fixture(scope="session")
def local_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    state = tmp_path_factory.getbasetemp() / "broker-state"
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with running_dev_server(state_dir=state, log=log) as broker:
        yield broker


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
