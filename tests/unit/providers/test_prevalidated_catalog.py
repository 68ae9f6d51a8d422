"""The pre-validated catalog (catalog.json) equals catalog.yaml, and the cold path uses it."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oauth_broker.providers import catalog as catalog_module
from oauth_broker.providers.catalog import (
    BUILTIN_CATALOG_PATH,
    PREVALIDATED_CATALOG_PATH,
    ProviderCatalog,
    prevalidated_catalog,
)

REPO = Path(__file__).resolve().parents[3]
GENERATOR = REPO / "scripts" / "gen_catalog_json.py"


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_catalog_json", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _from_yaml(*, allow_loopback: bool = False) -> ProviderCatalog:
    """The catalog as it is without catalog.json: the YAML parsed, resolved and validated."""
    document = catalog_module._load_text(
        str(BUILTIN_CATALOG_PATH), BUILTIN_CATALOG_PATH.read_text(encoding="utf-8"), as_json=False
    )
    return ProviderCatalog.from_documents(
        [(str(BUILTIN_CATALOG_PATH), document)], allow_loopback=allow_loopback
    )


def _dumps(catalog: ProviderCatalog) -> list[dict[str, Any]]:
    return [provider.model_dump(mode="json") for provider in catalog]


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    catalog_module._prevalidated.cache_clear()
    catalog_module._builtin_document.cache_clear()
    yield
    catalog_module._prevalidated.cache_clear()
    catalog_module._builtin_document.cache_clear()


def test_given_the_shipped_catalog_json_when_generated_again_from_catalog_yaml_then_it_is_unchanged() -> None:
    shipped = PREVALIDATED_CATALOG_PATH.read_text(encoding="utf-8")

    assert shipped == _generator().render(), "catalog.json is stale: run `make catalog-json`"
    assert json.loads(shipped) == prevalidated_catalog(BUILTIN_CATALOG_PATH.read_bytes())


def test_given_the_shipped_catalog_json_when_read_then_it_names_the_yaml_it_was_generated_from() -> None:
    shipped = json.loads(PREVALIDATED_CATALOG_PATH.read_text(encoding="utf-8"))

    assert shipped["yaml_sha256"] == hashlib.sha256(BUILTIN_CATALOG_PATH.read_bytes()).hexdigest()


@pytest.mark.parametrize("allow_loopback", [False, True])
def test_given_the_builtin_catalog_when_loaded_from_catalog_json_then_every_provider_equals_the_yamls(
    fresh_caches: None, allow_loopback: bool
) -> None:
    loaded = ProviderCatalog.load(allow_loopback=allow_loopback)

    assert catalog_module._prevalidated() is not None
    assert loaded.allow_loopback is allow_loopback
    assert _dumps(loaded) == _dumps(_from_yaml(allow_loopback=allow_loopback))
    assert [p.connectable for p in loaded] == [p.connectable for p in _from_yaml()]


def _write_json(tmp_path: Path, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    monkeypatch.setattr(catalog_module, "PREVALIDATED_CATALOG_PATH", path)


def _with_display_name(name: str) -> dict[str, Any]:
    data = prevalidated_catalog(BUILTIN_CATALOG_PATH.read_bytes())
    data["providers"][-1]["display_name"] = name
    return data


def test_given_a_catalog_json_of_this_yaml_when_the_catalog_loads_then_its_providers_come_from_the_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_caches: None
) -> None:
    _write_json(tmp_path, _with_display_name("From the JSON"), monkeypatch)

    loaded = ProviderCatalog.load()

    assert loaded.all()[-1].display_name == "From the JSON"


def test_given_a_catalog_json_of_another_yaml_when_the_catalog_loads_then_the_yaml_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_caches: None
) -> None:
    stale = _with_display_name("From a stale JSON")
    stale["yaml_sha256"] = hashlib.sha256(b"an earlier catalog.yaml").hexdigest()
    _write_json(tmp_path, stale, monkeypatch)

    loaded = ProviderCatalog.load()

    assert _dumps(loaded) == _dumps(_from_yaml())


def test_given_no_catalog_json_when_the_catalog_loads_then_the_yaml_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_caches: None
) -> None:
    monkeypatch.setattr(catalog_module, "PREVALIDATED_CATALOG_PATH", tmp_path / "missing.json")

    loaded = ProviderCatalog.load()

    assert catalog_module._prevalidated() is None
    assert _dumps(loaded) == _dumps(_from_yaml())


def test_given_a_fresh_interpreter_when_the_builtin_catalog_loads_then_pyyaml_is_not_imported() -> None:
    code = (
        "import sys; from oauth_broker.providers.catalog import ProviderCatalog; "
        "catalog = ProviderCatalog.load(); print(len(catalog), 'yaml' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "layers" / "shared"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    count, yaml_loaded = out.stdout.split()
    assert int(count) == len(_from_yaml())
    assert yaml_loaded == "False"


def test_given_the_generator_when_checking_a_current_catalog_json_then_it_exits_0() -> None:
    assert _generator().main(["--check"]) == 0
