"""Cold init of every function against the boto3 floor, same machine, same run.

Floor: `python -c "import boto3; boto3.client('dynamodb'); boto3.client('kms')"`.
Function: a fresh interpreter that imports `functions/<name>/app.py` (what Lambda's init phase
runs) and then creates the same two clients through the broker's own factories, so both sides
pay for the same SDK work. Wall time of the whole process, median of 5 runs each.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = ("authorizer", "authorize", "callback", "api", "proxy", "refresh", "webhook")
RUNS = 5

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


def wall(code: str) -> float:
    # Bytecode is cached (the layer ships it compiled for the runtime's Python); a set
    # PYTHONDONTWRITEBYTECODE would make every run recompile our sources and measure that instead.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(ENV)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True)
    return (time.perf_counter() - start) * 1000


def interleaved(code: str) -> tuple[float, float]:
    """(median floor ms, median function ms), the two measured alternately so that a change in
    the machine's load hits both sides alike."""
    wall(FLOOR), wall(code)  # warm the OS page cache and .pyc files, not measured
    floors, functions = [], []
    for _ in range(RUNS):
        floors.append(wall(FLOOR))
        functions.append(wall(code))
    return statistics.median(floors), statistics.median(functions)


def main() -> None:
    version = sys.version.split()[0]
    print(f"cold init, wall ms, median of {RUNS} interleaved runs ({sys.executable} {version})")
    print(f"| {'function':<12} | {'floor ms':>8} | {'init ms':>8} | {'x floor':>7} |")
    for name in FUNCTIONS:
        if not (REPO / "functions" / name / "app.py").exists():
            print(f"| {name:<12} | {'missing':>8} |")
            continue
        floor, ms = interleaved(FUNCTION.format(name=name))
        print(f"| {name:<12} | {floor:8.1f} | {ms:8.1f} | {ms / floor:7.2f} |")


if __name__ == "__main__":
    main()
