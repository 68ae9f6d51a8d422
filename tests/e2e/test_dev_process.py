"""`running_dev_server` (oauth_broker_dev.dev_process), the one way the e2e and fuzz suites and
the load benchmark run `oauth-broker dev` as a child process: healthy when handed over, stopped
after, and a child that dies at start-up reported at once with what it said."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from oauth_broker_dev.dev_process import DevServerFailed, running_dev_server

pytestmark = pytest.mark.e2e


def test_given_a_dev_server_when_its_block_ends_then_it_was_healthy_inside_and_is_stopped_after(
    tmp_path: Path,
) -> None:
    with running_dev_server(state_dir=tmp_path / "state", log=tmp_path / "dev.log") as dev:
        health = httpx.get(f"{dev.base_url}/v1/health", timeout=10)
        assert dev.proc.poll() is None

    assert health.status_code == 200
    assert dev.base_url.startswith("http://127.0.0.1:")
    assert dev.proc.poll() is not None
    assert "oauth-broker is serving on" in dev.stdout()


def test_given_an_option_dev_does_not_know_when_started_then_it_fails_at_once_with_the_clis_own_error(
    tmp_path: Path,
) -> None:
    started = time.monotonic()

    with (
        pytest.raises(DevServerFailed, match=r"(?s)exited early:.*unrecognized arguments: --no-such-flag"),
        running_dev_server(
            state_dir=tmp_path / "state", log=tmp_path / "dev.log", extra_args=["--no-such-flag"]
        ),
    ):
        pytest.fail("the block ran without a healthy server")

    assert time.monotonic() - started < 30  # not the 60 s start-up deadline
