"""The dependency lock: uv.lock agrees with pyproject.toml, the layer's requirements are its export,
the venv is synced from it, and the built layer's check (scripts/check_layer_lock.py) catches drift.

All offline: `uv export --frozen --offline` reads uv.lock only, and the rest parses files.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from infrastructure.infra_template import REPO_ROOT

LOCK_SCRIPT = REPO_ROOT / "scripts" / "lock.sh"
CHECK_SCRIPT = REPO_ROOT / "scripts" / "check_layer_lock.py"
LAYER_REQUIREMENTS = REPO_ROOT / "layers" / "shared" / "requirements.txt"
UV = Path(sys.executable).parent / "uv"


def export_layer_requirements(root: Path) -> str:
    """What `scripts/lock.sh --print` exports from root/uv.lock, offline."""
    assert UV.is_file(), f"uv is not installed next to {sys.executable} (make venv installs it)"
    result = subprocess.run(
        ["bash", str(root / "scripts" / "lock.sh"), "--print"],
        env={**os.environ, "UV": str(UV), "UV_OFFLINE": "1", "UV_NO_CONFIG": "1"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


# ---------------------------------------------------------------- the layer's requirements are the export


def test_given_uv_lock_when_exporting_the_layer_requirements_offline_then_the_file_is_that_export() -> None:
    assert LAYER_REQUIREMENTS.read_text() == export_layer_requirements(REPO_ROOT), (
        "layers/shared/requirements.txt is stale: run `make lock`"
    )


def test_given_a_lock_whose_version_changed_when_exporting_then_the_export_no_longer_equals_the_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(LOCK_SCRIPT, tmp_path / "scripts" / "lock.sh")
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # httpx's entry as a newer release would be locked: its version and its files' names
    lock = (REPO_ROOT / "uv.lock").read_text()
    start = lock.index('[[package]]\nname = "httpx"\n')
    end = lock.index("[[package]]", start + 1)
    entry = lock[start:end]
    version = re.search(r'^version = "([^"]+)"', entry, re.MULTILINE)
    assert version is not None
    (tmp_path / "uv.lock").write_text(lock[:start] + entry.replace(version.group(1), "99.0.0") + lock[end:])

    exported = export_layer_requirements(tmp_path)

    assert "httpx==99.0.0" in exported
    assert exported != LAYER_REQUIREMENTS.read_text()


def test_given_the_layer_requirements_when_reading_each_pin_then_it_is_exact_and_carries_sha256_hashes() -> (
    None
):
    entries = LAYER_REQUIREMENTS.read_text().replace("\\\n", " ").splitlines()
    pins = [line for line in entries if line.strip() and not line.lstrip().startswith("#")]

    assert len(pins) >= 10
    for line in pins:
        requirement = line.split(" --hash=", 1)[0]
        assert re.match(r"^[a-z0-9-]+==[^ ;]+( ;|$)", requirement.strip()), line
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", line), line


def test_given_the_layer_requirements_when_reading_the_header_then_it_says_it_is_generated_and_by_what() -> (
    None
):
    header = LAYER_REQUIREMENTS.read_text().split("\n\n", 1)[0]

    assert header.startswith("# GENERATED from uv.lock by `make lock` (scripts/lock.sh)")
    assert "uv export --frozen --offline --no-dev --no-emit-project" in header


def test_given_the_layer_requirements_when_reading_them_then_the_runtimes_sdk_and_dev_tools_are_absent() -> (
    None
):
    names = {
        canonicalize_name(line.split("==", 1)[0])
        for line in LAYER_REQUIREMENTS.read_text().splitlines()
        if "==" in line and not line.startswith((" ", "#"))
    }

    assert {"httpx", "pydantic", "cryptography", "aws-lambda-powertools"} <= names
    # the runtime's SDK, what only it needs, and the dev extra
    assert not names & {"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "pytest", "moto"}


# ---------------------------------------------------------------- pyproject.toml and uv.lock agree

# Environments the markers are compared on: a marker means the same to uv and to pyproject.toml when
# it holds on exactly the same ones (uv rewrites `python_version` as `python_full_version`).
MARKER_ENVIRONMENTS = [
    {
        "python_version": py,
        "python_full_version": f"{py}.0",
        "sys_platform": platform,
        "platform_system": {"linux": "Linux", "darwin": "Darwin", "win32": "Windows"}[platform],
        "os_name": "nt" if platform == "win32" else "posix",
        "platform_machine": machine,
        "platform_python_implementation": impl,
        "implementation_name": impl.lower(),
        "extra": extra,
    }
    for py, platform, machine, impl, extra in itertools.product(
        ["3.11", "3.12", "3.13", "3.14"],
        ["linux", "darwin", "win32"],
        ["x86_64", "aarch64"],
        ["CPython", "PyPy"],
        ["", "dev"],
    )
]


def marker_truth(marker: str | None) -> tuple[bool, ...]:
    if not marker:
        return tuple(True for _ in MARKER_ENVIRONMENTS)
    parsed = Marker(marker)
    return tuple(parsed.evaluate(dict(env)) for env in MARKER_ENVIRONMENTS)


Key = tuple[str, tuple[str, ...], SpecifierSet, tuple[bool, ...]]


def pyproject_requirements(pyproject: dict[str, Any]) -> list[Key]:
    """(name, extras, specifier, where it applies) of every runtime and dev requirement."""
    project = pyproject["project"]
    groups = [(None, project["dependencies"])]
    groups += list(project.get("optional-dependencies", {}).items())
    keys = []
    for extra, requirements in groups:
        for text in requirements:
            req = Requirement(text)
            own = str(req.marker) if req.marker else None
            marker = (
                own
                if extra is None
                else (f"({own}) and extra == '{extra}'" if own else f"extra == '{extra}'")
            )
            keys.append(
                (canonicalize_name(req.name), tuple(sorted(req.extras)), req.specifier, marker_truth(marker))
            )
    return keys


def lock_requirements(project_package: dict[str, Any]) -> list[Key]:
    """The same, from what uv.lock recorded of pyproject.toml when it was locked."""
    return [
        (
            canonicalize_name(entry["name"]),
            tuple(sorted(entry.get("extras", []))),
            SpecifierSet(entry.get("specifier", "")),
            marker_truth(entry.get("marker")),
        )
        for entry in project_package["metadata"]["requires-dist"]
    ]


def disagreements(pyproject: dict[str, Any], lock: dict[str, Any]) -> list[str]:
    """Every way uv.lock does not reflect pyproject.toml; empty when `make lock` has nothing to do."""
    name = canonicalize_name(pyproject["project"]["name"])
    (project_package,) = [p for p in lock["package"] if p["name"] == name]
    problems = []
    if lock["requires-python"] != pyproject["project"]["requires-python"]:
        problems.append(f"requires-python: lock {lock['requires-python']}, pyproject")
    wanted, locked = pyproject_requirements(pyproject), lock_requirements(project_package)
    problems += [
        f"not in uv.lock: {key[0]}{list(key[1]) or ''} {key[2]}" for key in wanted if key not in locked
    ]
    problems += [
        f"in uv.lock, not in pyproject.toml: {key[0]} {key[2]}" for key in locked if key not in wanted
    ]
    versions: dict[str, list[Version]] = {}
    for package in lock["package"]:
        if "version" in package:
            versions.setdefault(package["name"], []).append(Version(package["version"]))
    for dep_name, _extras, specifier, _where in wanted:
        if dep_name not in versions:
            problems.append(f"{dep_name}: no locked version")
        problems += [
            f"{dep_name}: locked {v} is outside {specifier}"
            for v in versions.get(dep_name, [])
            if v not in specifier
        ]
    return problems


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def lock() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "uv.lock").read_text())


def test_given_pyproject_and_uv_lock_when_comparing_them_then_the_lock_records_and_satisfies_every_dependency(
    pyproject: dict[str, Any], lock: dict[str, Any]
) -> None:
    assert disagreements(pyproject, lock) == [], "uv.lock is stale: run `make lock`"


def edited(pyproject: dict[str, Any], group: str, old: str | None, new: str | None) -> dict[str, Any]:
    """pyproject.toml with one requirement of a group replaced, added (old None) or removed (new None)."""
    copy: dict[str, Any] = {"project": {**pyproject["project"]}}
    project = copy["project"]
    if group == "runtime":
        deps = list(project["dependencies"])
        project["dependencies"] = deps
    else:
        project["optional-dependencies"] = {**project["optional-dependencies"]}
        deps = list(project["optional-dependencies"][group])
        project["optional-dependencies"][group] = deps
    if old is not None:
        deps.remove(old)
    if new is not None:
        deps.append(new)
    return copy


@pytest.mark.parametrize(
    ("group", "old", "new", "expected"),
    [
        ("runtime", "httpx>=0.27", "httpx>=99", "httpx: locked"),
        ("runtime", "httpx>=0.27", "httpx>=0.28", "not in uv.lock: httpx"),
        ("runtime", None, "tenacity>=8", "not in uv.lock: tenacity"),
        ("dev", "pytest>=8", None, "in uv.lock, not in pyproject.toml: pytest"),
        ("dev", "pytest>=8", "pytest>=8 ; sys_platform == 'win32'", "not in uv.lock: pytest"),
        ("dev", "moto[server]>=5.1", "moto>=5.1", "not in uv.lock: moto"),
        ("runtime", "httpx>=0.27", None, "in uv.lock, not in pyproject.toml: httpx"),
    ],
    ids=[
        "specifier-unmet",
        "specifier-changed",
        "dep-added",
        "dep-removed",
        "marker-changed",
        "extra-dropped",
        "runtime-dep-removed",
    ],
)
def test_given_pyproject_edited_without_relocking_when_comparing_then_the_disagreement_is_named(
    pyproject: dict[str, Any],
    lock: dict[str, Any],
    group: str,
    old: str | None,
    new: str | None,
    expected: str,
) -> None:
    problems = disagreements(edited(pyproject, group, old, new), lock)

    assert any(problem.startswith(expected) for problem in problems), problems


# ---------------------------------------------------------------- make: the venv syncs from the lock


@pytest.fixture
def synced_venv(tmp_path: Path) -> Path:
    """A venv directory whose `make venv` stamp is newer than every file it depends on."""
    if shutil.which("make") is None:
        pytest.fail("make is needed to read the Makefile's venv target")
    stamp = tmp_path / "venv" / ".installed"
    stamp.parent.mkdir()
    stamp.touch()
    assert stamp.stat().st_mtime > max(
        p.stat().st_mtime for p in (REPO_ROOT / "uv.lock", REPO_ROOT / "pyproject.toml")
    )
    return stamp.parent


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO_ROOT), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_given_a_synced_venv_when_nothing_changed_then_make_venv_has_nothing_to_do(synced_venv: Path) -> None:
    assert make("-q", "venv", f"VENV={synced_venv}").returncode == 0


@pytest.mark.parametrize("changed", ["uv.lock", "pyproject.toml"])
def test_given_a_synced_venv_when_the_lock_or_pyproject_changes_then_make_venv_syncs_it_from_the_lock(
    synced_venv: Path, changed: str
) -> None:
    dry_run = make("-n", "-W", changed, "venv", f"VENV={synced_venv}")

    assert dry_run.returncode == 0, dry_run.stderr
    assert re.search(r"uv==\d+\.\d+\.\d+", dry_run.stdout), "the bootstrap installs a pinned uv"
    assert f'UV_PROJECT_ENVIRONMENT="{synced_venv}"' in dry_run.stdout
    assert re.search(r"/uv sync -q --frozen --extra dev --inexact$", dry_run.stdout, re.MULTILINE)


@pytest.mark.parametrize(("target", "flag"), [("lock", ""), ("lock-upgrade", " --upgrade")])
def test_given_make_lock_when_dry_running_it_then_it_runs_the_lock_script(target: str, flag: str) -> None:
    dry_run = make("-n", target)

    assert dry_run.returncode == 0, dry_run.stderr
    assert re.search(rf"bash scripts/lock\.sh{flag} *$", dry_run.stdout, re.MULTILINE), dry_run.stdout


# ---------------------------------------------------------------- the built layer's check


FAKE_LOCK = """\
version = 1
requires-python = ">=3.11"

[[package]]
name = "httpx"
version = "0.28.1"

[[package]]
name = "cffi"
version = "2.1.1"

[[package]]
name = "typing-extensions"
version = "4.16.0"

[[package]]
name = "pywin32"
version = "312"

[[package]]
name = "exceptiongroup"
version = "1.3.0"
"""

HASH = "--hash=sha256:" + "0" * 64
FAKE_REQUIREMENTS = f"""\
# GENERATED (a test's)
httpx==0.28.1 \\
    {HASH}
    # via oauth-broker
cffi==2.1.1 ; platform_python_implementation != 'PyPy' \\
    {HASH}
typing-extensions==4.16.0 \\
    {HASH}
pywin32==312 ; sys_platform == 'win32' \\
    {HASH}
exceptiongroup==1.3.0 ; python_full_version < '3.13' \\
    {HASH}
"""

# what the layer must hold: pywin32 (Windows) and exceptiongroup (< 3.13) do not apply on Lambda
MATCHING_LAYER = {"httpx": "0.28.1", "cffi": "2.1.1", "typing_extensions": "4.16.0"}


def fake_layer(root: Path, distributions: dict[str, str]) -> Path:
    site = root / "python"
    (site / "oauth_broker").mkdir(parents=True)
    for name, version in distributions.items():
        dist_info = site / f"{name}-{version}.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nText.\n"
        )
    return site


def check_layer(site: Path, lock: Path, requirements: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(CHECK_SCRIPT),
            str(site),
            "--lock",
            str(lock),
            "--requirements",
            str(requirements),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def fake_lock(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "uv.lock").write_text(FAKE_LOCK)
    (tmp_path / "requirements.txt").write_text(FAKE_REQUIREMENTS)
    return tmp_path / "uv.lock", tmp_path / "requirements.txt"


def test_given_a_layer_with_exactly_the_locked_versions_when_checked_then_it_passes(
    tmp_path: Path, fake_lock: tuple[Path, Path]
) -> None:
    result = check_layer(fake_layer(tmp_path, MATCHING_LAYER), *fake_lock)

    assert result.returncode == 0, result.stderr
    assert "3 packages at their locked versions" in result.stdout


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({**MATCHING_LAYER, "httpx": "0.29.0"}, "httpx: locked at 0.28.1, the layer has 0.29.0"),
        (
            {k: v for k, v in MATCHING_LAYER.items() if k != "cffi"},
            "cffi: locked at 2.1.1, missing from the layer",
        ),
        ({**MATCHING_LAYER, "botocore": "1.40.0"}, "botocore: 1.40.0 is in the layer but not in the locked"),
        (
            {**MATCHING_LAYER, "exceptiongroup": "1.3.0"},
            "exceptiongroup: 1.3.0 is in the layer but not in the",
        ),
    ],
    ids=["version-differs", "package-missing", "package-extra", "marker-false-on-lambda"],
)
def test_given_a_layer_that_differs_from_the_lock_when_checked_then_it_fails_naming_the_package(
    tmp_path: Path, fake_lock: tuple[Path, Path], layer: dict[str, str], message: str
) -> None:
    result = check_layer(fake_layer(tmp_path, layer), *fake_lock)

    assert result.returncode == 1
    assert message in result.stderr


def test_given_requirements_pinning_a_version_the_lock_lacks_when_checked_then_it_fails_asking_for_make_lock(
    tmp_path: Path, fake_lock: tuple[Path, Path]
) -> None:
    lock, requirements = fake_lock
    lock.write_text(FAKE_LOCK.replace('version = "0.28.1"', 'version = "0.28.2"'))

    result = check_layer(fake_layer(tmp_path, MATCHING_LAYER), lock, requirements)

    assert result.returncode == 1
    assert "httpx: the requirements pin 0.28.1, uv.lock has 0.28.2 (run `make lock`)" in result.stderr


def test_given_the_real_lock_when_a_layer_holds_each_exported_pin_then_the_check_passes(
    tmp_path: Path,
) -> None:
    pins = re.findall(r"^([a-z0-9-]+)==([^ ;\\]+)", LAYER_REQUIREMENTS.read_text(), re.MULTILINE)
    site = fake_layer(tmp_path, dict(pins))

    result = check_layer(site, REPO_ROOT / "uv.lock", LAYER_REQUIREMENTS)

    assert result.returncode == 0, result.stderr
    assert f"{len(pins)} packages at their locked versions" in result.stdout


def test_given_no_built_layer_when_checked_then_it_fails_saying_to_build_first(
    tmp_path: Path, fake_lock: tuple[Path, Path]
) -> None:
    result = check_layer(tmp_path / "nothing", *fake_lock)

    assert result.returncode == 1
    assert "run `sam build` first" in result.stderr


def test_given_sam_check_when_it_has_built_the_stack_then_a_layer_differing_from_the_lock_fails_it() -> None:
    script = (REPO_ROOT / "scripts" / "sam_check.sh").read_text()
    build = script.index('"$SAM" build')
    check = script.index('scripts/check_layer_lock.py "$LAYER_DIR/python"')

    # errexit set before anything runs: the check's exit status 1 stops the script, so `make test`
    assert "\nset -euo pipefail\n" in script[:build]
    assert build < check
