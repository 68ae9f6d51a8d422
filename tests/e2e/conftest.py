"""The e2e suite runs `make dev`'s server (`oauth-broker dev`) as a subprocess on a free port."""

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
