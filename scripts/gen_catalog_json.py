#!/usr/bin/env python3
"""Generate `providers/catalog.json`: the built-in provider catalog (`catalog.yaml`) pre-validated.

It holds the YAML's SHA-256, the parsed document and every provider resolved (`extends`) and
validated, dumped as JSON. `ProviderCatalog.load()` uses it when its hash matches the YAML beside
it, so a cold start neither imports PyYAML nor parses or resolves the catalog. Run it after every
edit of catalog.yaml (`make catalog-json`); `tests/unit/providers/test_prevalidated_catalog.py`
fails while it is stale.

    python scripts/gen_catalog_json.py            # (re)write catalog.json
    python scripts/gen_catalog_json.py --check    # exit 1 when catalog.json is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "layers" / "shared"))

from oauth_broker.providers.catalog import (  # noqa: E402 - after the layer is on the path
    BUILTIN_CATALOG_PATH,
    PREVALIDATED_CATALOG_PATH,
    prevalidated_catalog,
)


def render() -> str:
    """catalog.json's text for the catalog.yaml on disk (keys in the YAML's order: providers keep
    their catalog order)."""
    data = prevalidated_catalog(BUILTIN_CATALOG_PATH.read_bytes())
    return json.dumps(data, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when catalog.json is stale")
    args = parser.parse_args(argv)
    text = render()
    path = PREVALIDATED_CATALOG_PATH
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if args.check:
        if current != text:
            print(f"{path} is stale: run python scripts/gen_catalog_json.py", file=sys.stderr)
            return 1
        print(f"{path.name} is current")
        return 0
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
