"""scripts/gen_scope_table.py: the committed google_methods.json matches Google's discovery documents."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from oauth_broker.providers.scopes import GOOGLE_METHODS_PATH

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "gen_scope_table.py"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_scope_table", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_given_the_committed_table_when_checking_then_it_is_up_to_date(generator: ModuleType) -> None:
    assert generator.main(["--check"]) == 0


def test_given_the_script_then_it_writes_the_table_the_package_loads(generator: ModuleType) -> None:
    assert generator.OUTPUT == GOOGLE_METHODS_PATH


def test_given_a_stale_table_when_checking_then_it_exits_1_and_names_the_differences(
    generator: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = json.loads(GOOGLE_METHODS_PATH.read_text(encoding="utf-8"))
    removed = table["methods"].pop(0)
    table["methods"][0]["scopes"] = []
    stale = tmp_path / "google_methods.json"
    stale.write_text(json.dumps(table), encoding="utf-8")

    assert generator.main(["--check", "--output", str(stale)]) == 1
    out = capsys.readouterr().out
    assert f"added:   {removed['http_method']} {removed['path']} ({removed['id']})" in out
    assert f"changed: {table['methods'][0]['http_method']} {table['methods'][0]['path']}" in out


def test_given_the_discovery_documents_when_building_twice_then_the_output_is_identical(
    generator: ModuleType,
) -> None:
    assert generator.render(generator.build_table()) == generator.render(generator.build_table())


def test_given_the_built_table_then_rows_are_sorted_by_api_path_and_method(generator: ModuleType) -> None:
    rows = generator.build_table()["methods"]
    keys = [(row["api"], row["path"], row["http_method"], row["id"]) for row in rows]
    assert keys == sorted(keys)


def test_given_a_method_with_flat_path_and_media_upload_then_both_paths_are_rows(
    generator: ModuleType,
) -> None:
    document: dict[str, Any] = {
        "servicePath": "svc/",
        "resources": {
            "items": {
                "methods": {
                    "put": {
                        "id": "svc.items.put",
                        "httpMethod": "post",
                        "path": "v1/{+name}",
                        "flatPath": "v1/items/{itemsId}",
                        "scopes": ["s2", "s1"],
                        "mediaUpload": {"protocols": {"simple": {"path": "/upload/svc/v1/{+name}"}}},
                    }
                }
            }
        },
    }
    rows = generator.rows_for_document("svc", document)
    assert rows == [
        {"api": "svc", "id": "svc.items.put", "http_method": "POST", "scopes": ["s1", "s2"],
         "path": "svc/v1/items/{itemsId}", "upload": False},
        {"api": "svc", "id": "svc.items.put", "http_method": "POST", "scopes": ["s1", "s2"],
         "path": "upload/svc/v1/{+name}", "upload": True},
    ]  # fmt: skip


def test_given_the_gmail_document_then_every_method_has_a_row(generator: ModuleType) -> None:
    rows = generator.build_table()["methods"]
    gmail_ids = {row["id"] for row in rows if row["api"] == "gmail"}
    document = json.loads((generator.discovery_documents_dir() / "gmail.v1.json").read_text(encoding="utf-8"))
    expected = {method["id"] for method in generator._methods(document)}
    assert gmail_ids == expected
