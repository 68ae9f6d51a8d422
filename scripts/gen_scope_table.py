#!/usr/bin/env python3
"""Generate `providers/google_methods.json`: the scopes each Gmail and People API method accepts.

Reads the discovery documents shipped with google-api-python-client (gmail.v1.json, people.v1.json)
and writes, for every method, `{api, id, http_method, path, scopes, upload}` where `path` is the
method's URL path template relative to the API host (`flatPath` when present, else `path`, after the
document's `servicePath`); a method with a simple media upload gets a second row with the upload path
(`upload/gmail/v1/...`). Any one of `scopes` authorizes a call (Google's discovery semantics).

    python scripts/gen_scope_table.py            # (re)write the table
    python scripts/gen_scope_table.py --check    # exit 1 with a summary when the table is stale
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
OUTPUT = REPO_ROOT / "layers" / "shared" / "oauth_broker" / "providers" / "google_methods.json"
# api name in the table -> discovery document file name
DOCUMENTS = {"gmail": "gmail.v1.json", "people": "people.v1.json"}

Row = dict[str, Any]


def discovery_documents_dir() -> Path:
    """googleapiclient's bundled discovery documents, found without importing the package."""
    spec = importlib.util.find_spec("googleapiclient")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("google-api-python-client is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "discovery_cache" / "documents"


def _methods(resource: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from resource.get("methods", {}).values()
    for child in resource.get("resources", {}).values():
        yield from _methods(child)


def rows_for_document(api: str, document: Mapping[str, Any]) -> list[Row]:
    service_path = str(document.get("servicePath", ""))
    rows: list[Row] = []
    for method in _methods(document):
        template = str(method.get("flatPath") or method["path"])
        scopes = sorted(set(method.get("scopes", [])))
        base = {"api": api, "id": method["id"], "http_method": method["httpMethod"].upper(), "scopes": scopes}
        rows.append({**base, "path": (service_path + template).lstrip("/"), "upload": False})
        simple = method.get("mediaUpload", {}).get("protocols", {}).get("simple", {})
        if simple.get("path"):
            rows.append({**base, "path": str(simple["path"]).lstrip("/"), "upload": True})
    return rows


def build_table(documents_dir: Path | None = None) -> dict[str, Any]:
    directory = documents_dir or discovery_documents_dir()
    rows: list[Row] = []
    for api, file_name in DOCUMENTS.items():
        document = json.loads((directory / file_name).read_text(encoding="utf-8"))
        rows.extend(rows_for_document(api, document))
    rows.sort(key=lambda row: (row["api"], row["path"], row["http_method"], row["id"]))
    return {
        "generated_by": "scripts/gen_scope_table.py",
        "sources": [f"googleapiclient/discovery_cache/documents/{name}" for name in DOCUMENTS.values()],
        "methods": rows,
    }


def render(table: Mapping[str, Any]) -> str:
    """Deterministic JSON, one method a line (diff-friendly)."""
    head = {key: value for key, value in table.items() if key != "methods"}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value)},")
    lines.append('  "methods": [')
    methods = [json.dumps(row, sort_keys=True) for row in table["methods"]]
    lines.extend(f"    {row}," for row in methods[:-1])
    if methods:
        lines.append(f"    {methods[-1]}")
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _row_key(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (row["api"], row["http_method"], row["path"], row["id"])


def diff_summary(old_text: str | None, new_table: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between the committed table and a freshly built one."""
    if old_text is None:
        return ["the table does not exist"]
    try:
        old_rows = {_row_key(row): row for row in json.loads(old_text).get("methods", [])}
    except (ValueError, AttributeError, KeyError, TypeError):
        return ["the committed table is not valid JSON in the expected shape"]
    new_rows = {_row_key(row): row for row in new_table["methods"]}
    lines = []
    for key in sorted(new_rows.keys() - old_rows.keys()):
        lines.append(f"added:   {key[1]} {key[2]} ({key[3]})")
    for key in sorted(old_rows.keys() - new_rows.keys()):
        lines.append(f"removed: {key[1]} {key[2]} ({key[3]})")
    for key in sorted(new_rows.keys() & old_rows.keys()):
        if old_rows[key] != new_rows[key]:
            lines.append(f"changed: {key[1]} {key[2]} ({key[3]})")
    return lines or ["formatting or header differs"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed table is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"default: {OUTPUT}")
    parser.add_argument("--documents-dir", type=Path, default=None, help="discovery documents directory")
    args = parser.parse_args(argv)

    table = build_table(args.documents_dir)
    text = render(table)
    output: Path = args.output
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else None
        if current == text:
            print(f"{output}: up to date ({len(table['methods'])} methods)")
            return 0
        print(f"{output}: stale; run scripts/gen_scope_table.py to regenerate:")
        for line in diff_summary(current, table):
            print(f"  {line}")
        return 1
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output} ({len(table['methods'])} methods)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
