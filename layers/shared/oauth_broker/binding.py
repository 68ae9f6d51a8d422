"""`bound(var, value)`: a context variable set for the length of a `with` block, then restored.

What binds per-invocation state (the request, its metrics, its audit scope): a `ContextVar` is
per thread (and per asyncio task, and copied into worker threads with `contextvars.copy_context`),
so concurrent invocations of the local runtime never see each other's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

__all__ = ["bound"]

T = TypeVar("T")


@contextmanager
def bound(var: ContextVar[T | None], value: T) -> Iterator[T]:
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)
