"""A broker with the fake Google in-process, for the proxy and Contacts routes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from brokertest.proxy import ProxyWorld, build_proxy_world
from oauth_broker.services import configure


@pytest.fixture
def pw(aws, tmp_path) -> Iterator[ProxyWorld]:
    world = build_proxy_world(aws, tmp_path)
    try:
        yield world
    finally:
        configure(None)
