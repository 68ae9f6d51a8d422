"""The broker's log lines as CloudWatch would get them (JSON with the extras), for tests that pin
what a guard logs or prove that no secret is in any line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from oauth_broker.observability import logger


class LogLines(io.StringIO):
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.getvalue().splitlines() if line.strip()]

    def messages(self) -> list[str]:
        return [str(record.get("message")) for record in self.records()]

    def the(self, message: str) -> dict[str, Any]:
        """The one record with this message."""
        found = [record for record in self.records() if record.get("message") == message]
        assert len(found) == 1, (message, self.messages())
        return found[0]


@contextmanager
def captured_logs() -> Iterator[LogLines]:
    lines = LogLines()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(handler)
    try:
        yield lines
    finally:
        logging.getLogger(logger.name).removeHandler(handler)
