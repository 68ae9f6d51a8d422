"""The Gmail push bench's arithmetic: nearest-rank percentiles of the latency samples, and Google's
Pub/Sub price of one notification (one publish and one push, each billed at least 1000 bytes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _load() -> ModuleType:
    sys.path.insert(0, str(ROOT / "bench"))  # it imports bench_load's HTTP helpers
    spec = importlib.util.spec_from_file_location(
        "bench_gmail_push_under_test", ROOT / "bench" / "bench_gmail_push.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load()


@pytest.mark.parametrize(("q", "expected"), [(50, 50.0), (90, 90.0), (99, 99.0), (100, 100.0)])
def test_given_100_samples_when_a_percentile_is_taken_then_it_is_the_nearest_rank(q: int, expected: float):
    samples = [float(v) for v in range(100, 0, -1)]  # 1..100, unsorted

    assert bench.percentile(samples, q) == expected


def test_given_one_slow_sample_in_100_when_p99_is_taken_then_it_is_not_the_max():
    samples = [10.0] * 99 + [900.0]

    assert bench.percentile(samples, 99) == 10.0
    assert max(samples) == 900.0


def test_given_one_sample_when_any_percentile_is_taken_then_it_is_that_sample():
    assert bench.percentile([42.0], 50) == 42.0
    assert bench.percentile([42.0], 99) == 42.0


def test_given_one_notification_when_priced_then_pubsub_bills_two_1000_byte_requests_at_40_usd_per_tib():
    per_million = bench.pubsub_usd_per_notification() * 1e6

    assert per_million == pytest.approx(2 * 1000 * 40 / 2**40 * 1e6)
    assert round(per_million, 4) == 0.0728
