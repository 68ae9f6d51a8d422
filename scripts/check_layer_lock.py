"""Checks that a built Lambda layer holds exactly the locked versions of its requirements.

    python scripts/check_layer_lock.py [LAYER_SITE] [--lock uv.lock] [--requirements FILE]

LAYER_SITE is the layer's python/ directory (default: .aws-sam/build/SharedLayer/python, what
`sam build` made). The expected packages are those of the layer's requirements
(layers/shared/requirements.txt, exported from uv.lock by scripts/lock.sh) whose environment
markers hold on Lambda's runtime (CPython 3.13 on Linux aarch64), each at the version uv.lock
records. The layer's distributions are read from their *.dist-info/METADATA (Name, Version).

Exits 1, naming each package, when one is missing, is extra (in the layer, not in the
requirements: e.g. pulled in by pip as a dependency) or has another version than the lock's;
0 when they are equal. scripts/sam_check.sh runs it right after `sam build`.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

# Lambda's python3.13 runtime on arm64 (template.yaml: Runtime python3.13, Architectures arm64),
# as PEP 508 marker variables.
LAMBDA_ENVIRONMENT = {
    "implementation_name": "cpython",
    "implementation_version": "3.13.0",
    "os_name": "posix",
    "platform_machine": "aarch64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": "3.13.0",
    "python_version": "3.13",
    "sys_platform": "linux",
}


def locked_versions(lock_file: Path) -> dict[NormalizedName, set[Version]]:
    """Every version uv.lock records for each package (a package can have one per Python fork)."""
    lock = tomllib.loads(lock_file.read_text())
    versions: dict[NormalizedName, set[Version]] = {}
    for package in lock.get("package", []):
        if "version" in package:
            versions.setdefault(canonicalize_name(package["name"]), set()).add(Version(package["version"]))
    return versions


def pinned_requirements(requirements_file: Path) -> dict[NormalizedName, Version]:
    """The `name==version` pins of a requirements file whose markers hold on Lambda."""
    pins: dict[NormalizedName, Version] = {}
    text = requirements_file.read_text().replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        line = " ".join(part for part in line.split() if not part.startswith("--hash="))
        try:
            requirement = Requirement(line)
        except InvalidRequirement as exc:
            raise SystemExit(f"{requirements_file}: not a requirement: {line!r} ({exc})") from exc
        specs = list(requirement.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            raise SystemExit(f"{requirements_file}: {line!r} is not pinned with ==")
        if requirement.marker is None or requirement.marker.evaluate(dict(LAMBDA_ENVIRONMENT)):
            pins[canonicalize_name(requirement.name)] = Version(specs[0].version)
    return pins


def layer_distributions(site: Path) -> dict[NormalizedName, Version]:
    """Name and version of every distribution installed under the layer's python/ directory."""
    found: dict[NormalizedName, Version] = {}
    for dist_info in sorted(site.glob("*.dist-info")):
        metadata = dist_info / "METADATA"
        if not metadata.is_file():
            raise SystemExit(f"{dist_info}: no METADATA")
        headers = HeaderParser().parsestr(metadata.read_text(errors="replace"))
        found[canonicalize_name(headers["Name"])] = Version(headers["Version"])
    return found


def compare(
    expected: dict[NormalizedName, Version],
    locked: dict[NormalizedName, set[Version]],
    layer: dict[NormalizedName, Version],
) -> list[str]:
    """What differs, one sentence a package; empty when the layer is the lock."""
    problems = []
    for name, version in sorted(expected.items()):
        if version not in locked.get(name, set()):
            shown = ", ".join(sorted(str(v) for v in locked.get(name, set()))) or "nothing"
            problems.append(f"{name}: the requirements pin {version}, uv.lock has {shown} (run `make lock`)")
        elif name not in layer:
            problems.append(f"{name}: locked at {version}, missing from the layer")
        elif layer[name] != version:
            problems.append(f"{name}: locked at {version}, the layer has {layer[name]}")
    for name in sorted(set(layer) - set(expected)):
        problems.append(f"{name}: {layer[name]} is in the layer but not in the locked requirements")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "site", nargs="?", type=Path, default=ROOT / ".aws-sam" / "build" / "SharedLayer" / "python"
    )
    parser.add_argument("--lock", type=Path, default=ROOT / "uv.lock")
    parser.add_argument("--requirements", type=Path, default=ROOT / "layers" / "shared" / "requirements.txt")
    args = parser.parse_args(argv)

    if not args.site.is_dir():
        print(f"error: no layer at {args.site} (run `sam build` first)", file=sys.stderr)
        return 1
    expected = pinned_requirements(args.requirements)
    problems = compare(expected, locked_versions(args.lock), layer_distributions(args.site))
    if problems:
        print(f"error: the layer at {args.site} differs from uv.lock:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"layer matches uv.lock: {len(expected)} packages at their locked versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
