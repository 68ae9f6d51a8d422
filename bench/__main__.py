"""`make bench`: runs every bench/bench_*.py in its own process and prints their figures.

Each script is standalone (`python bench/bench_x.py` works too); this runner only sequences them
so one benchmark's warm caches never flatter another's cold figures. Arguments after `--` go to
every script run: `python -m bench load -- --smoke`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    wanted = set(argv[: argv.index("--")] if "--" in argv else argv)
    scripts = sorted(
        p for p in HERE.glob("bench_*.py") if not wanted or p.stem.removeprefix("bench_") in wanted
    )
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} ({time.strftime('%Y-%m-%d %H:%M:%S')}) ===", flush=True)
        code = subprocess.call([sys.executable, str(script), *extra], cwd=HERE.parent)
        if code:
            failed.append(script.stem)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
