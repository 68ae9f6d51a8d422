"""`make mutation`: mutmut on the security-critical modules, one module at a time, each against
the narrowest tests that cover it, and each module's score (killed / total) printed.

    .venv/bin/python scripts/mutation.py [MODULE ...]     # default: every module below
    MUTATION_JOBS=2 .venv/bin/python scripts/mutation.py paths

mutmut 3 names a mutant after its file's path, with only a leading `src/` stripped, and imports the
mutated copy from `mutants/src`; our package lives in `layers/shared`. So each module is run in its
own staging folder, `.mutation/<module>/` (gitignored), with `src/oauth_broker` and `tests` linked to
the real ones and a `pyproject.toml` that is ours plus that module's `[tool.mutmut]` section. The
staging folder is made afresh on every run: a cached verdict from before a test changed is no score.

A mutant counts as killed when a test failed or timed out with it. Everything else (survived, no
tests) counts against the score. Lines that start a log call are not mutated: a log message's
wording is not a guard (and no mutation of one can put a secret in it). The run fails when a
module scores below THRESHOLD.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGING = ROOT / ".mutation"
PACKAGE = ROOT / "layers" / "shared" / "oauth_broker"
THRESHOLD = 90.0
KILLED = {"killed", "timeout"}


@dataclass(frozen=True)
class Module:
    files: tuple[str, ...]  # under oauth_broker/
    tests: tuple[str, ...]  # the narrowest selection that covers them
    functions: tuple[str, ...] = ()  # only these functions' mutants (default: the whole file)


MODULES: dict[str, Module] = {
    "paths": Module(("proxy/paths.py",), ("tests/unit/proxy/test_paths.py",)),
    "return_to": Module(("connect/return_to.py",), ("tests/unit/connect/test_return_to.py",)),
    "scopes": Module(
        ("providers/scopes.py",),
        (
            "tests/unit/providers/test_method_scope_table.py",
            "tests/unit/connect/test_scope_outcome.py",
        ),
    ),
    "envelope": Module(
        ("crypto/envelope.py",),
        (
            "tests/unit/crypto/test_envelope.py",
            "tests/unit/crypto/test_encryption_context.py",
            "tests/unit/crypto/test_data_key_cache.py",
        ),
    ),
    "state_box": Module(("crypto/state_box.py",), ("tests/unit/crypto/test_state_box.py",)),
    "jwt": Module(("auth/jwt.py",), ("tests/unit/auth/test_jwt.py",)),
    "id_token": Module(("oauth/id_token.py",), ("tests/unit/connect/test_id_token.py",)),
    "callback": Module(
        ("connect/issuer.py", "connect/callback.py"),
        (
            "tests/unit/connect/test_authorization_response_issuer.py",
            "tests/integration/connect/test_callback_security.py",
            "tests/integration/connect/test_connect_flow.py",
            "tests/integration/connect/test_reauthorization.py",
            "tests/integration/faults/test_jwks.py",
            "tests/integration/faults/test_dynamodb.py",
            "tests/integration/faults/test_kms.py",
        ),
        # the checks: the state's, RFC 9207's, the ID token's and the re-authorization's (not the
        # rest of `_finish`, which builds the connection, nor the token exchange adapter)
        functions=(
            "authorization_response_issuer_error",
            "finish_authorization",
            "_account",
            "_reauthorize",
        ),
    ),
}


def mutmut_section(module: Module) -> str:
    def toml_list(items: list[str] | tuple[str, ...]) -> str:
        return "[" + ", ".join(json.dumps(item) for item in items) + "]"

    return "\n".join(
        [
            "",
            "[tool.mutmut]",
            'source_paths = ["src/oauth_broker"]',
            f"only_mutate = {toml_list([f'src/oauth_broker/{f}' for f in module.files])}",
            # a log call's wording is not a guard
            r'do_not_mutate_patterns = ["^\\s*(logger|log)\\.(debug|info|warning|error|exception)\\("]',
            f"pytest_add_cli_args_test_selection = {toml_list(module.tests)}",
            'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:xdist"]',
            "use_git_change_detection = false",
            "",
        ]
    )


def stage(name: str, module: Module) -> Path:
    where = STAGING / name
    shutil.rmtree(where, ignore_errors=True)
    (where / "src").mkdir(parents=True)
    (where / "src" / "oauth_broker").symlink_to(PACKAGE, target_is_directory=True)
    (where / "tests").symlink_to(ROOT / "tests", target_is_directory=True)
    pyproject = (ROOT / "pyproject.toml").read_text()
    (where / "pyproject.toml").write_text(pyproject + mutmut_section(module))
    return where


def mutant_globs(module: Module) -> list[str]:
    globs = []
    for file in module.files:
        dotted = "oauth_broker." + file.removesuffix(".py").replace("/", ".")
        if module.functions:
            globs += [f"{dotted}.x_{fn}__mutmut_*" for fn in module.functions]
        else:
            globs.append(f"{dotted}.*")
    return globs


def score(where: Path, module: Module) -> list[tuple[str, int, int, list[str]]]:
    from fnmatch import fnmatch

    from mutmut.stats import status_by_exit_code

    globs = mutant_globs(module)
    rows = []
    for file in module.files:
        meta = json.loads((where / "mutants" / "src" / "oauth_broker" / f"{file}.meta").read_text())
        statuses = {
            key: status_by_exit_code[code]
            for key, code in meta["exit_code_by_key"].items()
            if any(fnmatch(key, g) for g in globs)
        }
        killed = sum(1 for s in statuses.values() if s in KILLED)
        survivors = sorted(f"{key} ({s})" for key, s in statuses.items() if s not in KILLED)
        rows.append((file, killed, len(statuses), survivors))
    return rows


def main(argv: list[str]) -> int:
    names = argv or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        print(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    jobs = os.environ.get("MUTATION_JOBS", "1")
    mutmut = Path(sys.executable).with_name("mutmut")
    results: list[tuple[str, int, int, list[str]]] = []
    for name in names:
        module = MODULES[name]
        where = stage(name, module)
        print(f"==> mutmut on {', '.join(module.files)} with {' '.join(module.tests)}", flush=True)
        started = time.monotonic()
        log = where / "mutmut.log"
        with log.open("w") as out:
            run = subprocess.run(
                [str(mutmut), "run", "--max-children", jobs, *mutant_globs(module)],
                cwd=where,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if run.returncode != 0:
            print(log.read_text()[-4000:])
            print(f"error: mutmut failed on {name} (exit {run.returncode}); log: {log}", file=sys.stderr)
            return 1
        for file, killed, total, survivors in score(where, module):
            results.append((file, killed, total, survivors))
            for survivor in survivors:
                print(f"    survived: {survivor}")
        print(f"    ({time.monotonic() - started:.0f} s; `cd {where.relative_to(ROOT)} && mutmut show NAME`)")

    print("\nmutation score (killed / total)")
    failing = []
    for file, killed, total, _ in results:
        pct = 100.0 * killed / total if total else 100.0
        print(f"  {file:<28} {killed:>4} / {total:<4} {pct:5.1f}%")
        if pct < THRESHOLD:
            failing.append(file)
    if failing:
        print(f"below {THRESHOLD:.0f}%: {', '.join(failing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
