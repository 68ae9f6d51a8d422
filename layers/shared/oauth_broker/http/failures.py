"""What an exception escaping a route is answered with: one mapping for every HTTP function.

A `BrokerError` is its own answer (logged when it is a 5xx); an AWS dependency's fault (throttled,
failing, timed out, key disabled, access denied) is classified in one place: 503 with Retry-After,
or 500 `service_misconfigured`; anything else is a 500 `internal_error` whose log names the type
and the code lines, never the message (it may carry data we must not log or return).

No Powertools here: the resolver's exception handlers (`oauth_broker.http.resolver`) and the
routes served without a resolver (`oauth_broker.http.direct`) both answer through `problem_for`.
"""

from __future__ import annotations

import traceback

from oauth_broker.dependency_errors import dependency_error, dependency_fault_code
from oauth_broker.errors import BrokerError
from oauth_broker.observability import logger

__all__ = ["InternalError", "problem_for"]


class InternalError(BrokerError):
    """An unexpected failure: the problem names nothing of it."""

    status, code, title = 500, "internal_error", "Internal error"

    def __init__(self) -> None:
        super().__init__("an unexpected error occurred")


def problem_for(err: Exception) -> BrokerError:
    """The problem `err` is answered with, logged as it is logged everywhere."""
    if isinstance(err, BrokerError):
        if err.status >= 500:
            logger.warning("request failed", extra={"code": err.code, "status": err.status})
        return err
    dependency = dependency_error(err)
    if dependency is not None:
        logger.warning(
            "dependency failed",
            extra={
                "code": dependency.code,
                "status": dependency.status,
                "aws_error": dependency_fault_code(err),
            },
        )
        return dependency
    # The type only: an exception's message may carry data we must not log or return.
    where = "".join(traceback.format_tb(err.__traceback__, limit=-3))  # code lines, no values
    logger.error("unhandled error", extra={"error_type": type(err).__name__, "where": where})
    return InternalError()
