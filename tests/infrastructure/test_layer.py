"""The shared layer's build: Lambda platform wheels, no boto3, the oauth_broker package with its data."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from infrastructure.infra_template import REPO_ROOT

LAYER_DIR = REPO_ROOT / "layers" / "shared"
# extras that install boto3: Powertools' "aws-sdk", and "all" (through aws-encryption-sdk)
BOTO3_EXTRAS = {"aws-lambda-powertools[aws-sdk]", "aws-lambda-powertools[all]"}


def requirement_names(lines: list[str]) -> set[str]:
    """Normalized distribution names (no extras, no version specifiers, no `--hash` lines)."""
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name = re.split(r"[\[<>=!~; ]", line, maxsplit=1)[0]
            names.add(re.sub(r"[-_.]+", "-", name).lower())
    return names


def requirement_extras(lines: list[str]) -> set[str]:
    """Every extra asked for, as "distribution[extra]"."""
    extras = set()
    for line in lines:
        match = re.match(r"\s*([\w.-]+)\s*\[([^\]]*)\]", line.split("#", 1)[0])
        if match:
            name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
            extras |= {f"{name}[{extra.strip().lower()}]" for extra in match.group(2).split(",")}
    return extras


@pytest.fixture(scope="module")
def requirements() -> list[str]:
    return (LAYER_DIR / "requirements.txt").read_text().splitlines()


def expand(text: str, variables: dict[str, str]) -> str:
    for _ in range(5):
        text = re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), m.group(0)), text)
    return text


@pytest.fixture(scope="module")
def build_recipe() -> list[str]:
    """The build-SharedLayer recipe, one shell command a line, continuations joined and the
    Makefile's own variables expanded ($(ARTIFACTS_DIR) comes from sam and stays as is)."""
    makefile = (LAYER_DIR / "Makefile").read_text().replace("\\\n", " ")
    variables = dict(re.findall(r"^(\w+)\s*[:?]?=\s*(.*?)\s*$", makefile, re.MULTILINE))
    match = re.search(r"^build-SharedLayer:\n((?:\t.*\n?)+)", makefile, re.MULTILINE)
    assert match is not None, "no build-SharedLayer target"
    return [expand(line.strip(), variables) for line in match.group(1).splitlines()]


@pytest.fixture(scope="module")
def pip_install(build_recipe: list[str]) -> str:
    (command,) = [line for line in build_recipe if " pip install " in line]
    return " ".join(shlex.split(command))


FAKE_PIP = """#!/bin/sh
# Stands in for `python3 -m pip install ... -t DIR`: lays out what the real install leaves,
# including the botocore that aws-xray-sdk pulls in, and the console scripts in bin/.
while [ $# -gt 0 ]; do
  if [ "$1" = "-t" ]; then target="$2"; fi
  shift
done
mkdir -p "$target/pydantic" "$target/botocore" "$target/botocore-1.40.0.dist-info" "$target/bin"
touch "$target/pydantic/__init__.py" "$target/botocore/__init__.py" "$target/bin/httpx"
"""


@pytest.fixture(scope="module")
def built_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runs the real build-SharedLayer target (pip faked) on a small oauth_broker tree."""
    if shutil.which("make") is None or shutil.which("tar") is None:
        pytest.skip("make and tar are needed to run the layer's Makefile")
    work = tmp_path_factory.mktemp("layer-src")
    shutil.copy(LAYER_DIR / "Makefile", work / "Makefile")
    shutil.copy(LAYER_DIR / "requirements.txt", work / "requirements.txt")
    package = work / "oauth_broker"
    (package / "providers" / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "providers" / "catalog.yaml").write_text("providers: {}\n")
    (package / "providers" / "google_methods.json").write_text("{}\n")
    (package / "providers" / "__pycache__" / "catalog.cpython-311.pyc").write_bytes(b"")
    fake_python = work / "fake-python"
    fake_python.write_text(FAKE_PIP)
    fake_python.chmod(0o755)
    artifacts = tmp_path_factory.mktemp("layer-artifacts")

    subprocess.run(
        ["make", "--no-print-directory", "-C", str(work), "build-SharedLayer", f"PYTHON={fake_python}"],
        env={**os.environ, "ARTIFACTS_DIR": str(artifacts)},
        check=True,
        capture_output=True,
    )
    return artifacts / "python"


def test_given_the_layer_requirements_when_reading_them_then_boto3_and_botocore_are_not_bundled(
    requirements: list[str],
) -> None:
    names = requirement_names(requirements)

    assert not names & {"boto3", "botocore", "s3transfer"}
    assert not requirement_extras(requirements) & BOTO3_EXTRAS


def test_given_the_layer_requirements_when_compared_with_the_project_then_they_pin_its_runtime_deps_not_boto3(
    requirements: list[str],
) -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]

    # the export from uv.lock also pins every transitive dependency (test_dependency_lock.py)
    assert requirement_names(project) - {"boto3"} <= requirement_names(requirements)


@pytest.mark.parametrize(
    "flags",
    [
        "--platform manylinux2014_aarch64",
        "--python-version 3.13",
        "--implementation cp",
        "--only-binary=:all:",
        "-t $(ARTIFACTS_DIR)/python",
        "-r requirements.txt",
        "--require-hashes",
        "--no-deps",
    ],
)
def test_given_the_layer_makefile_when_pip_installs_then_it_asks_for_the_lambda_platforms_wheels(
    pip_install: str, flags: str
) -> None:
    assert flags in pip_install


def test_given_the_layer_build_when_pip_pulled_in_botocore_then_the_layer_does_not_ship_it(
    built_layer: Path,
) -> None:
    assert not list(built_layer.glob("botocore*"))
    assert (built_layer / "pydantic" / "__init__.py").is_file()


def test_given_the_layer_build_when_pip_installed_console_scripts_then_the_layer_does_not_ship_them(
    built_layer: Path,
) -> None:
    assert not (built_layer / "bin").exists()


def test_given_the_layer_build_when_it_copies_the_package_then_code_and_data_files_land_under_python(
    built_layer: Path,
) -> None:
    package = built_layer / "oauth_broker"

    assert (package / "__init__.py").is_file()
    assert (package / "providers" / "catalog.yaml").is_file()
    assert (package / "providers" / "google_methods.json").is_file()


def test_given_the_layer_build_when_it_copies_the_package_then_bytecode_caches_are_left_out(
    built_layer: Path,
) -> None:
    assert (built_layer / "oauth_broker" / "providers").is_dir()
    # The only bytecode allowed is what the build compiled for Lambda's Python (3.13), never a
    # developer's cache for another version.
    stray = [p for p in built_layer.rglob("*.pyc") if not p.name.endswith(".cpython-313.pyc")]
    assert not stray
