"""The fuzz suite runs against `oauth-broker dev` as a subprocess on a free 127.0.0.1 port (the e2e
suite's `local_broker` fixture, reused), with two seeded tenants: `stable`, whose ids every
non-destructive operation may name, and `scratch`, which deletes and patches go to (seeded afresh
for each such test) so that one example's DELETE does not starve the others of existing ids."""

from __future__ import annotations

import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis

from e2e.conftest import RunningBroker, local_broker  # noqa: F401  (the fixture, reused as is)
from fuzz import checks
from fuzz.world import FuzzWorld, seed_world

SEED = int(os.environ.get("FUZZ_SEED") or secrets.randbits(32))

# The RISC receiver's body is a security event token (RFC 8935): text, sent as it is.
schemathesis.serializer.alias("application/secevent+jwt", "text/plain")


def fuzz_seed() -> int:
    """The run's seed (FUZZ_SEED, else a random one), printed at the end: FUZZ_SEED=<seed> replays
    the generated requests (the ids the worlds get are new each run)."""
    return SEED


def max_examples() -> int:
    """`make test` runs a bounded fuzz (FUZZ_MAX_EXAMPLES, default 12 per operation and caller);
    `make fuzz` a long one."""
    return int(os.environ.get("FUZZ_MAX_EXAMPLES", "12"))


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def reach_summary() -> list[str]:
    """Per operation: answers by status class, so a run that never got past 404 shows it."""
    by_operation: dict[str, dict[str, int]] = {}
    for (operation, status), count in sorted(checks.SEEN.items()):
        classes = by_operation.setdefault(operation, {})
        classes[f"{status // 100}xx"] = classes.get(f"{status // 100}xx", 0) + count
    lines = [
        f"{op:70} " + " ".join(f"{k}={v}" for k, v in sorted(c.items())) for op, c in by_operation.items()
    ]
    reached = sum(1 for c in by_operation.values() if c.get("2xx") or c.get("3xx"))
    total = sum(checks.SEEN.values())
    lines.append(
        f"fuzz: {total} requests, {len(by_operation)} operations, {reached} answered 2xx/3xx at least once"
    )
    return lines


@pytest.fixture(scope="session")
def keep_broker_log(local_broker: RunningBroker) -> Iterator[None]:  # noqa: F811
    """The broker's log (its unhandled errors name the code lines) outlives the run's temp dir, and
    the run's reach is printed."""
    started = time.monotonic()
    yield
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(local_broker.log_path, ARTIFACTS / "fuzz-broker.log")
    lines = reach_summary()
    lines.append(f"fuzz: {time.monotonic() - started:.0f} s against the local broker")
    (ARTIFACTS / "fuzz-reach.txt").write_text("\n".join(lines) + "\n")
    REACH.extend([*lines[-2:], f"fuzz seed: {SEED}   (replay: FUZZ_SEED={SEED} make fuzz)"])


REACH: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REACH:
        terminalreporter.write_sep("-", "fuzz reach")
        for line in REACH:
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"per operation: {ARTIFACTS / 'fuzz-reach.txt'}")


def _remember(world: FuzzWorld, label: str) -> None:
    for name, value in world.secrets.items():
        checks.SEEDED_SECRETS[f"{label}:{name}"] = value
    checks.EXPOSABLE_ACCESS_TOKENS[world.connection_id] = world.secrets["access_token"]


@pytest.fixture(scope="session")
def stable_world(
    local_broker: RunningBroker,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
    keep_broker_log: None,
) -> FuzzWorld:
    # Session fixtures run before the autouse `_isolated_env`: mint with the broker's dev-IdP key.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BROKER_STATE_DIR", str(tmp_path_factory.getbasetemp() / "broker-state"))
        world = seed_world(local_broker.base_url, "fuzz-stable")
    _remember(world, "stable")
    return world


class Scratch:
    """A scratch tenant seeded on first use, for one test: deletes and patches go there."""

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url
        self._world: FuzzWorld | None = None

    def world(self) -> FuzzWorld:
        if self._world is None:
            self._world = seed_world(self._base_url, "fuzz-scratch")
            _remember(self._world, f"scratch-{self._world.tenant}")
        return self._world


@pytest.fixture
def scratch(local_broker: RunningBroker, keep_broker_log: None) -> Scratch:  # noqa: F811
    return Scratch(local_broker.base_url)
