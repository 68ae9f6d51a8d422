"""When and how long to wait before trying a provider request again.

Retried: 429, 5xx (but 501 and 505, which will not change), and Google's rate-limit 403s
(`error.errors[].reason` `rateLimitExceeded` / `userRateLimitExceeded`): the same set
google-api-python-client retries. Waits are truncated exponential backoff with full jitter
(`uniform(0, min(max_delay, base_delay * 2**retry))`); a `Retry-After` (seconds or an HTTP date)
is honoured: the wait is at least that long. A wait that would not leave time for another
attempt before the deadline is not taken: the last answer is passed through instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["RATE_LIMIT_REASONS", "RetryPolicy", "google_rate_limit_reason", "parse_retry_after"]

RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_NOT_RETRYABLE_5XX = frozenset({501, 505})
_MAX_ERROR_BODY = 64 * 1024


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def google_rate_limit_reason(body: bytes, content_type: str | None) -> str | None:
    """The rate-limit reason of a Google API error body (`error.errors[].reason`), or None."""
    if not body or len(body) > _MAX_ERROR_BODY or "json" not in (content_type or "").lower():
        return None
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    error = document.get("error") if isinstance(document, dict) else None
    details = error.get("errors") if isinstance(error, dict) else None
    for item in details if isinstance(details, list) else []:
        reason = item.get("reason") if isinstance(item, dict) else None
        if reason in RATE_LIMIT_REASONS:
            return str(reason)
    return None


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.25
    max_delay: float = 8.0
    # An attempt is only started with at least this much time left before the deadline.
    min_attempt_seconds: float = 1.0

    def is_retryable(self, status: int, headers: Mapping[str, str], body: bytes) -> bool:
        if status == 429 or (status >= 500 and status not in _NOT_RETRYABLE_5XX):
            return True
        if status == 403:
            return google_rate_limit_reason(body, headers.get("content-type")) is not None
        return False

    def delay(self, retry: int, *, retry_after: float | None, rng: Callable[[], float]) -> float:
        """The wait before retry number `retry` (0 for the first retry)."""
        if retry_after is not None:
            return retry_after + float(rng()) * self.base_delay
        cap = min(self.max_delay, self.base_delay * 2.0 ** min(retry, 16))
        return float(rng()) * cap
