"""The fault matrix's fixtures: `faults` (botocore hooks on the broker's AWS clients) and `fw` (a
broker with the fake Google behind `GoogleFaults`, an OAuth client and the return origin allowed).
The injectors are in brokertest.faults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from brokertest.connect import allow_return_origins, create_oauth_client
from brokertest.faults import AwsFaults, FaultWorld, GoogleFaults
from brokertest.google import GOOGLE_BASE
from brokertest.proxy import build_proxy_world
from brokertest.world import Aws
from oauth_broker.services import configure


@pytest.fixture
def faults(aws: Aws) -> Iterator[AwsFaults]:
    injector = AwsFaults(aws)
    try:
        yield injector
    finally:
        injector.detach()


@pytest.fixture
def fw(aws: Aws, tmp_path: Any, faults: AwsFaults) -> Iterator[FaultWorld]:
    pw = build_proxy_world(aws, tmp_path)
    google = GoogleFaults(httpx.WSGITransport(app=pw.fake.app))
    pw.world.transport.mount(GOOGLE_BASE, google)
    try:
        allow_return_origins(pw.world)
        client = create_oauth_client(pw.world)
        out = FaultWorld(pw, faults, google, client)
        pw.world.services.event_listeners.append(out.events.append)
        yield out
    finally:
        configure(None)
