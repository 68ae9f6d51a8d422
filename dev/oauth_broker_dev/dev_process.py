"""`oauth-broker dev` as a child process, for the e2e and fuzz suites and the load benchmark: on a
free 127.0.0.1 port, with its own data directory (BROKER_STATE_DIR), healthy before it is handed
over, and stopped (terminated, then killed if need be) when the `with` block ends."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from oauth_broker_dev.aws_local import free_port

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "oauth_broker_dev.cli"]


class DevServerFailed(RuntimeError):
    """`oauth-broker dev` exited before it was healthy, or was not healthy by the deadline."""


def dev_env(
    state_dir: Path,
    extra: Mapping[str, str] | None = None,
    *,
    drop: Iterable[str] = ("GOOGLE_CLIENT_ID",),
    drop_prefixes: Iterable[str] = ("AWS_",),
) -> dict[str, str]:
    """This process's environment without what would point the child elsewhere (real AWS
    credentials, a real Google client), plus its data directory, unbuffered output and `extra`."""
    dropped, prefixes = set(drop), tuple(drop_prefixes)
    env = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith(prefixes)}
    env.update(BROKER_STATE_DIR=str(state_dir), PYTHONUNBUFFERED="1", **(extra or {}))
    return env


@dataclass
class DevProcess:
    base_url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    """stdout, and stderr too unless it has a file of its own (`stderr_path`)."""
    stderr_path: Path | None = None

    def stdout(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path else ""

    def output(self) -> str:
        return self.stdout() + self.stderr()


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Terminate it if it still runs; kill it if it is not gone in `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextmanager
def running_dev_server(
    *,
    state_dir: Path,
    log: Path,
    stderr_log: Path | None = None,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    extra_args: Iterable[str] = (),
    startup_timeout: float = 60,
    stop_timeout: float = 10,
) -> Iterator[DevProcess]:
    """`oauth-broker dev --port PORT [extra_args]` running and answering /v1/health.

    Its output goes to the file `log` (stderr to `stderr_log` when given, else to `log` too).
    `env` is its whole environment (default: `dev_env(state_dir)`). Raises DevServerFailed, with
    the output so far, when it exits early or is not healthy within `startup_timeout` seconds."""
    port = port or free_port()
    with log.open("wb") as out, stderr_log.open("wb") if stderr_log else out as err:
        proc = subprocess.Popen(  # noqa: S603 - this interpreter running our own CLI
            [*CLI, "dev", "--port", str(port), *extra_args],
            cwd=REPO,
            env=dict(env) if env is not None else dev_env(state_dir),
            stdout=out,
            stderr=subprocess.STDOUT if stderr_log is None else err,
        )
    server = DevProcess(f"http://127.0.0.1:{port}", proc, log, stderr_log)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise DevServerFailed(f"oauth-broker dev exited early:\n{server.output()}")
            try:
                if httpx.get(f"{server.base_url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise DevServerFailed(
                    f"oauth-broker dev did not come up in {startup_timeout:g} s:\n{server.output()}"
                )
            time.sleep(0.2)
        yield server
    finally:
        stop(proc, stop_timeout)
