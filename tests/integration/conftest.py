"""The integration suite records every AWS call each function makes (brokertest.aws_recorder).

The `aws` fixture is the shared one (tests/conftest.py) with the recorder's hooks on its clients,
and each function gets its own envelope data key cache, as in AWS (one process per function).
At the end of the session the deduplicated recording is written to .test-artifacts/aws-calls.json
for tests/infrastructure/test_iam_from_behaviour.py, only when the whole integration suite ran (no
file left out, nothing deselected) and passed; a partial run writes aws-calls.partial.json and
leaves the complete recording alone. A call that could not be attributed to a function fails the
session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from brokertest.aws_recorder import ARTIFACT, AwsCallRecorder, PerFunctionDataKeyCache
from brokertest.logs import LogLines, captured_logs
from brokertest.proxy import ProxyWorld, build_proxy_world
from brokertest.world import Aws
from oauth_broker import services as services_module
from oauth_broker.crypto.envelope import DataKeyCache

INTEGRATION_DIR = Path(__file__).resolve().parent
_RECORDER = pytest.StashKey[AwsCallRecorder]()
_DESELECTED = pytest.StashKey[int]()


def _recorder(config: pytest.Config) -> AwsCallRecorder:
    if _RECORDER not in config.stash:
        config.stash[_RECORDER] = AwsCallRecorder()
    return config.stash[_RECORDER]


@pytest.fixture(scope="session", autouse=True)
def aws_call_recorder(pytestconfig: pytest.Config) -> Iterator[AwsCallRecorder]:
    recorder = _recorder(pytestconfig)
    with recorder.listening():
        yield recorder


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    """Every line the broker's logger writes, formatted as in CloudWatch (JSON with the extras)."""
    with captured_logs() as lines:
        yield lines


@pytest.fixture
def aws(aws: Aws, aws_call_recorder: AwsCallRecorder) -> Iterator[Aws]:
    with aws_call_recorder.watching(aws.dynamodb, aws.kms, aws.events):
        yield aws


@pytest.fixture
def pw(aws: Aws, tmp_path: Path) -> Iterator[ProxyWorld]:
    """A broker with the fake Google in-process (the proxy, Contacts and typed Gmail routes)."""
    world = build_proxy_world(aws, tmp_path)
    try:
        yield world
    finally:
        services_module.configure(None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Each function gets its own data key cache, as its own process would have in AWS (see
    PerFunctionDataKeyCache): installed once the test's broker is built, before the test runs."""
    services = services_module._current  # the broker the test's fixtures configured, if any
    envelope = services.envelope if services is not None else None  # built on first use: no KMS call
    if envelope is not None and type(envelope.cache) is DataKeyCache:
        envelope.cache = PerFunctionDataKeyCache()
    return (yield)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if items:
        config = items[0].config
        config.stash[_DESELECTED] = config.stash.get(_DESELECTED, 0) + len(items)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _RECORDER not in session.config.stash:
        return  # no integration test ran
    recorder = session.config.stash[_RECORDER]
    every_file = {p.resolve() for p in INTEGRATION_DIR.rglob("test_*.py")}
    collected = {Path(str(item.path)).resolve() for item in session.items}
    missing = every_file - collected
    deselected = session.config.stash.get(_DESELECTED, 0)
    problems = []
    if missing:
        problems.append(f"{len(missing)} integration test file(s) not run")
    if deselected:
        problems.append(f"{deselected} test(s) deselected")
    if exitstatus != 0 or session.testsfailed:
        problems.append("the run failed")
    # A partial run never replaces a complete recording (it would hide what the rest exercises).
    target = ARTIFACT if not problems else ARTIFACT.with_name("aws-calls.partial.json")
    path = recorder.write(target, complete=not problems, note="; ".join(problems))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if recorder.unattributed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter is not None:
            reporter.write_line(
                "AWS calls made by the code under test that no function can be credited with "
                "(a thread started without the invocation's context?): "
                + ", ".join(sorted(recorder.unattributed)),
                red=True,
            )
    if reporter is not None:
        state = "complete" if not problems else "partial: " + "; ".join(problems)
        reporter.write_line(
            f"AWS calls per function recorded in {path.relative_to(ARTIFACT.parents[1])} ({state})"
        )
