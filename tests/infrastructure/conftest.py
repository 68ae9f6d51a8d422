"""Fixtures of the template checks: the parsed template.yaml and a `Stack` view over it."""

from __future__ import annotations

from typing import Any

import pytest

from infrastructure.infra_template import Stack, load_template


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def stack(template: dict[str, Any]) -> Stack:
    return Stack(template)
