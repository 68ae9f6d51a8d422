"""Time, injectable: wall-clock seconds (lease expiry, token expiry), a monotonic clock (deadlines)
and sleep. Tests pass a fake whose `sleep` advances both clocks, so waits cost no real time."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Epoch seconds (shared by every container: lease and token expiry)."""
        ...

    def monotonic(self) -> float:
        """Seconds on this process's monotonic clock (deadlines)."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clocks."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
