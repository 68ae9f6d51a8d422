"""Hypothesis settings of the property tests: reproducible by default, deeper on demand.

The profile `broker-properties` is derandomized (the examples derive from each test's source: the
same on every run and machine) with no example database, so CI never depends on a previous run.
With `BROKER_PROPERTIES=random` it draws new examples on every run instead; hypothesis then prints
the seed (`@seed(...)`) with the falsifying example of any failure, to replay it.

The profile is registered, not loaded: each test applies it with its own `max_examples`
(`@settings(settings.get_profile(PROFILE), max_examples=...)`), so other suites' hypothesis
settings (schemathesis) stay their own.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "broker-properties",
    derandomize=os.environ.get("BROKER_PROPERTIES") != "random",
    database=None,
    deadline=None,  # a loaded 2-core CI machine must not turn slowness into a failure
    print_blob=True,
    # The suite-wide autouse fixtures (environment variables) are function-scoped and read-only here.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Unit tests have no network: any connection attempt fails the test."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a unit property test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield
