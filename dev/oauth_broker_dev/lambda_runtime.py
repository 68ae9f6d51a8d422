"""Runs the real Lambda handlers in-process, as `sam local invoke` does where Docker exists.

`current_function` names (by template logical id) the function whose handler is running in this
context, so that in-process observers (the integration suite's AWS call recorder) can attribute
each AWS call to the function that would make it in AWS. Threads a handler starts must run in a
copy of its context (`contextvars.copy_context().run`) to stay attributed. Listeners in
`invocation_listeners` hear of every invocation as `(caller, callee)`: the caller is the function
invoking another one in-process (the `api` function's forced refresh), or None.
"""

from __future__ import annotations

import contextvars
import importlib.util
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from oauth_broker_dev.template import REPO_ROOT, function_code_dirs

_modules: dict[str, ModuleType] = {}
_lock = threading.Lock()

current_function: ContextVar[str | None] = ContextVar("current_function", default=None)
invocation_listeners: list[Callable[[str | None, str], None]] = []
_active = 0  # invocations in progress, in any thread


def active_invocations() -> int:
    """How many handler invocations are running right now (in any thread)."""
    return _active


@dataclass
class LocalLambdaContext:
    """The attributes Powertools and our handlers read from a Lambda context."""

    function_name: str
    timeout_seconds: float = 29.0
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def known_functions() -> list[str]:
    """The functions' short names (`api`, `authorizer`, ...), sorted."""
    return sorted(k for k in function_code_dirs() if not k.endswith("Function"))


def _code_dir(name: str) -> str:
    dirs = function_code_dirs()
    if name not in dirs:
        raise KeyError(f"unknown function {name!r}; known: {known_functions()}")
    return dirs[name]


def _load_copy(code_dir: str, copy: int) -> ModuleType:
    path = REPO_ROOT / code_dir / "app.py"
    module_name = f"fn_{code_dir.replace('/', '_')}_{copy}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_function(name: str) -> ModuleType:
    """The first loaded copy of a function's handler module, by short name (`api`) or logical id."""
    code_dir = _code_dir(name)
    with _lock:
        if code_dir not in _modules:
            _modules[code_dir] = _load_copy(code_dir, 0)
        return _modules[code_dir]


class _Environments:
    """Idle handler copies per function. Like Lambda, one environment serves one request at a time
    (Powertools resolvers keep the current event on the app object); a request that finds none idle
    gets a freshly loaded copy, a cold start."""

    def __init__(self) -> None:
        self._idle: dict[str, list[ModuleType]] = {}
        self._count: dict[str, int] = {}

    @contextmanager
    def acquire(self, name: str) -> Iterator[ModuleType]:
        code_dir = _code_dir(name)
        with _lock:
            idle = self._idle.setdefault(code_dir, [])
            module = idle.pop() if idle else None
            if module is None:
                copy = self._count.get(code_dir, 0)
                self._count[code_dir] = copy + 1
        if module is None:
            module = load_function(name) if copy == 0 else _load_copy(code_dir, copy)
        try:
            yield module
        finally:
            with _lock:
                self._idle[code_dir].append(module)


_environments = _Environments()


TIMEOUTS = {"authorizer": 5.0, "refresh": 300.0}


def logical_id(name: str) -> str:
    """The template logical id (`ApiFunction`) of a function named by short name or logical id."""
    dirs = function_code_dirs()
    code_dir = _code_dir(name)
    return next(k for k, v in dirs.items() if v == code_dir and k != code_dir.rsplit("/", 1)[-1])


def invoke(name: str, event: dict[str, Any], *, timeout: float | None = None) -> Any:
    module = load_function(name)
    short = function_code_dirs()[name].rsplit("/", 1)[-1]
    ctx = LocalLambdaContext(
        function_name=f"oauth-broker-{short}", timeout_seconds=timeout or TIMEOUTS.get(short, 29.0)
    )
    function = logical_id(name)
    for listener in list(invocation_listeners):
        listener(current_function.get(), function)
    _per_invocation_log_keys()
    # Its own copy of the context: what the handler sets there (the logger's keys, the current
    # function) is its own, and gone when it returns, as in a Lambda environment of its own.
    return contextvars.copy_context().run(_run, module, event, ctx, function)


def _run(module: ModuleType, event: dict[str, Any], ctx: LocalLambdaContext, function: str) -> Any:
    global _active
    current_function.set(function)
    with _lock:
        _active += 1
    try:
        return module.handler(event, ctx)
    finally:
        with _lock:
            _active -= 1


def _per_invocation_log_keys() -> None:
    """Every function shares one Powertools Logger in this process, and its keys (`function_name`,
    `correlation_id`, `cold_start`, which `inject_lambda_context` appends) are process-global: under
    concurrent requests one invocation's lines would name another's function. In Lambda one
    environment runs one invocation at a time, so that cannot happen there. Locally, the logger's
    `append_keys` becomes Powertools' `thread_safe_append_keys` (context-local keys, which the
    formatter prefers), and each invocation runs in a context of its own (`invoke`)."""
    from oauth_broker.observability import logger

    if logger.append_keys != logger.thread_safe_append_keys:
        logger.append_keys = logger.thread_safe_append_keys  # type: ignore[method-assign]
