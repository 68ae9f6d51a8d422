"""Cold init of every function against the boto3 floor, same machine, same run.

Floor: `python -c "import boto3; boto3.client('dynamodb'); boto3.client('kms')"`.
Function: a fresh interpreter that imports `functions/<name>/app.py` (what Lambda's init phase
runs) and then creates the same two clients through the broker's own factories, so both sides
pay for the same SDK work.

Each process is measured twice: wall time, and the CPU seconds it used (user + sys, from
`os.wait4`'s resource usage of that one child). Floor and function runs alternate, so a change in
the machine's load hits both sides alike; the table shows medians. On a shared machine the wall
ratio swings with the neighbours' load while the CPU ratio holds to a few hundredths, so the goal
is judged by CPU: <= 1.35x the floor for `proxy` and `authorizer` (every request pays their cold
start), <= 1.5x for every other function.

    python bench/bench_cold_init.py --runs 11
    python bench/bench_cold_init.py --runs 11 proxy authorizer
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = ("authorizer", "authorize", "callback", "api", "proxy", "refresh", "webhook")
GOALS = {"proxy": 1.35, "authorizer": 1.35}
DEFAULT_GOAL = 1.5
DEFAULT_RUNS = 7

FLOOR = "import boto3; boto3.client('dynamodb'); boto3.client('kms')"
FUNCTION = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("app", "functions/{name}/app.py")
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
from oauth_broker.services import get_services
s = get_services(); s.dynamodb; s.kms
"""

ENV = {
    "TABLE_NAME": "bench-table",
    "KMS_KEY_ID": "alias/bench",
    "EVENT_BUS_NAME": "bench",
    "JWT_ISSUER": "https://idp.example.com",
    "JWT_AUDIENCE": "broker",
    "JWKS_URL": "https://idp.example.com/jwks",
    "REFRESH_FUNCTION_NAME": "bench-refresh",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "POWERTOOLS_SERVICE_NAME": "oauth-broker",
    "POWERTOOLS_METRICS_NAMESPACE": "OAuthBroker",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "PYTHONPATH": str(REPO / "layers" / "shared"),
}


@dataclass(frozen=True, slots=True)
class Run:
    wall_ms: float
    cpu_ms: float  # the child's own user + sys time


def bench_env() -> dict[str, str]:
    # Bytecode is cached (the layer ships it compiled for the runtime's Python); a set
    # PYTHONDONTWRITEBYTECODE would make every run recompile our sources and measure that instead.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(ENV)
    return env


def run(code: str) -> Run:
    """One fresh interpreter running `code`: its wall time and the CPU time of that process alone."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=bench_env())
    _, status, usage = os.wait4(child.pid, 0)
    wall_ms = (time.perf_counter() - start) * 1000
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    if child.returncode:
        raise SystemExit(f"benchmark child failed (exit {child.returncode}): {code.strip()[:80]}")
    return Run(wall_ms, (usage.ru_utime + usage.ru_stime) * 1000)


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    floor: Run  # medians
    function: Run
    floor_min_cpu_ms: float
    function_min_cpu_ms: float

    @property
    def goal(self) -> float:
        return GOALS.get(self.name, DEFAULT_GOAL)

    @property
    def cpu_ratio(self) -> float:
        return self.function.cpu_ms / self.floor.cpu_ms

    @property
    def min_cpu_ratio(self) -> float:
        """Fastest against fastest: less sensitive to the neighbours' load than the medians."""
        return self.function_min_cpu_ms / self.floor_min_cpu_ms

    @property
    def wall_ratio(self) -> float:
        return self.function.wall_ms / self.floor.wall_ms

    @property
    def passed(self) -> bool:
        return self.cpu_ratio <= self.goal


def median_run(runs: list[Run]) -> Run:
    return Run(statistics.median(r.wall_ms for r in runs), statistics.median(r.cpu_ms for r in runs))


def interleaved(name: str, runs: int) -> Row:
    """Floor and function measured alternately, `runs` pairs, after one unmeasured warm-up pair
    (the OS page cache and .pyc files)."""
    code = FUNCTION.format(name=name)
    run(FLOOR), run(code)
    floors, functions = [], []
    for _ in range(runs):
        floors.append(run(FLOOR))
        functions.append(run(code))
    return Row(
        name,
        median_run(floors),
        median_run(functions),
        min(r.cpu_ms for r in floors),
        min(r.cpu_ms for r in functions),
    )


HEADER = (
    f"| {'function':<10} | {'floor cpu ms':>12} | {'init cpu ms':>11} | {'cpu x floor':>11} "
    f"| {'goal':>5} | {'':<4} | {'min x floor':>11} "
    f"| {'floor wall ms':>13} | {'init wall ms':>12} | {'wall x floor':>12} |"
)


def format_row(row: Row) -> str:
    verdict = "PASS" if row.passed else "MISS"
    return (
        f"| {row.name:<10} | {row.floor.cpu_ms:12.1f} | {row.function.cpu_ms:11.1f} | {row.cpu_ratio:11.2f} "
        f"| {row.goal:5.2f} | {verdict:<4} | {row.min_cpu_ratio:11.2f} "
        f"| {row.floor.wall_ms:13.1f} | {row.function.wall_ms:12.1f} "
        f"| {row.wall_ratio:12.2f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="interleaved pairs per function")
    parser.add_argument("--smoke", action="store_true", help="one pair per function (make bench -- --smoke)")
    parser.add_argument("functions", nargs="*", help=f"some of {', '.join(FUNCTIONS)} (default: all)")
    args, _ = parser.parse_known_args(argv)
    unknown = sorted(set(args.functions) - set(FUNCTIONS))
    if unknown:
        parser.error(f"unknown function(s): {', '.join(unknown)}")
    runs = 1 if args.smoke else max(1, args.runs)
    names = args.functions or list(FUNCTIONS)
    version = sys.version.split()[0]
    print(f"cold init vs the boto3 floor, median of {runs} interleaved runs ({sys.executable} {version})")
    print("judged by the median CPU ratio (the child's user + sys seconds); `min x floor` is the fastest")
    print("function run against the fastest floor run; wall time shown for reference")
    print(HEADER)
    print("|" + "|".join("-" * len(cell) for cell in HEADER.split("|")[1:-1]) + "|")
    missed = []
    for name in names:
        if not (REPO / "functions" / name / "app.py").exists():
            print(f"| {name:<10} | {'missing':>12} |")
            continue
        row = interleaved(name, runs)
        print(format_row(row), flush=True)
        if not row.passed:
            missed.append(name)
    print(f"goals missed: {', '.join(missed)}" if missed else "every function within its goal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
