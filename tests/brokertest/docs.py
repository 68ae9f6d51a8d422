"""What the docs promise, read from the docs themselves, so tests pin code and docs together."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONNECT_FLOW = REPO / "docs" / "connect-flow.md"


def documented_callback_errors() -> set[str]:
    """The codes in the first column of docs/connect-flow.md's `| error | meaning |` table: the
    results the callback (and connect.js) can hand the app."""
    lines = CONNECT_FLOW.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| error | meaning"))
    codes: set[str] = set()
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        codes.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return codes
