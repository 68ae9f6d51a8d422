"""A fake DNS for the outbound URL guard: tests never ask a real resolver.

Any name not set answers one public documentation address (TEST-NET-3: not routed on the
internet, not in a range the guard refuses); `localhost` answers loopback. A test points a name
elsewhere with `dns["internal.example"] = "10.0.0.5"`, or makes it change between lookups
(DNS rebinding) with `dns.sequence("rebind.example", ["203.0.113.9", "169.254.169.254"])`.
"""

from __future__ import annotations

from collections.abc import Iterable

PUBLIC_ADDRESS = "203.0.113.10"


class FakeDns:
    def __init__(self, answers: dict[str, str | list[str]] | None = None):
        self._answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []
        for name, value in (answers or {}).items():
            self[name] = value

    def __setitem__(self, name: str, addresses: str | Iterable[str]) -> None:
        self._answers[name.lower()] = [[addresses] if isinstance(addresses, str) else list(addresses)]

    def sequence(self, name: str, answers: Iterable[str | Iterable[str]]) -> None:
        """One answer per lookup, in order; the last one repeats."""
        self._answers[name.lower()] = [[a] if isinstance(a, str) else list(a) for a in answers]

    def __call__(self, host: str, port: int) -> list[str]:
        name = host.lower().rstrip(".")
        self.lookups.append(name)
        if name == "localhost":
            return ["127.0.0.1", "::1"]
        queue = self._answers.get(name)
        if queue is None:
            return [PUBLIC_ADDRESS]
        if not queue[0]:
            raise OSError(f"{name} does not resolve")  # like socket.gaierror (an OSError)
        return queue.pop(0) if len(queue) > 1 else list(queue[0])
