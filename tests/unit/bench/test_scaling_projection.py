"""The scaling bench's projection: one instance's rate from the two measured figures, the limits
that bound the instances, and the time a million due connections take, ramp included."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_scaling_under_test", ROOT / "bench" / "bench_scaling.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


scaling = _load()


def test_given_cpu_to_spare_when_rating_one_instance_then_the_measured_rate_is_its_rate() -> None:
    assert scaling.per_instance_rate(25.0, cpu_ms=10.0) == 25.0


def test_given_cpu_the_tighter_bound_when_rating_one_instance_then_one_vcpu_over_cpu_per_refresh() -> None:
    assert scaling.per_instance_rate(500.0, cpu_ms=4.0) == 250.0
    assert scaling.per_instance_rate(500.0, cpu_ms=4.0, vcpus=0.5) == 125.0


def test_given_several_limits_when_counting_instances_then_the_smallest_bounds_them() -> None:
    assert scaling.effective_instances(100, max_concurrency=5, reserved=10) == 5
    assert scaling.effective_instances(100, max_concurrency=200, reserved=50) == 50
    assert scaling.effective_instances(100, max_concurrency=100, reserved=110) == 100
    assert scaling.effective_instances(5000, max_concurrency=5000, reserved=None, account=3000) == 1250
    assert scaling.effective_instances(100, max_concurrency=100, reserved=None, account=40) == 40


def test_given_no_reservation_when_counting_instances_then_reserved_concurrency_is_no_bound() -> None:
    assert scaling.effective_instances(100, max_concurrency=100, reserved=0) == 100
    assert scaling.effective_instances(100, max_concurrency=100, reserved=None) == 100


def test_given_no_ramp_when_clearing_then_due_over_rate() -> None:
    assert scaling.clear_seconds(1000, 100.0, 0.0) == pytest.approx(10.0)


def test_given_a_ramp_when_clearing_then_half_the_ramp_is_lost() -> None:
    # 20 s ramp at 2,000/s: 20,000 refreshed during it, the other 980,000 at full rate
    assert scaling.clear_seconds(1_000_000, 2000.0, 20.0) == pytest.approx(20 + 980_000 / 2000)


def test_given_fewer_due_than_the_ramp_refreshes_when_clearing_then_it_ends_inside_the_ramp() -> None:
    # the rate grows as 2000/20 per second: 1,000 refreshed after sqrt(2 * 1000 * 20 / 2000) s
    assert scaling.clear_seconds(1000, 2000.0, 20.0) == pytest.approx(math.sqrt(20.0))
    # exactly the ramp's refreshes: both formulas meet at the end of the ramp
    assert scaling.clear_seconds(20_000, 2000.0, 20.0) == pytest.approx(20.0)


def test_given_no_rate_when_clearing_then_never() -> None:
    assert scaling.clear_seconds(10, 0.0, 5.0) == math.inf


def test_given_the_two_figures_when_projecting_100_instances_then_the_arithmetic_is_shown() -> None:
    p = scaling.project(100, measured_rate=20.0, cpu_ms=10.0)
    assert (p.instances, p.per_instance, p.rate) == (100, 20.0, 2000.0)
    assert p.ramp_seconds == pytest.approx(60 * 100 / 300)
    assert p.clear_seconds == pytest.approx(20 + (1_000_000 - 20_000) / 2000)
    assert p.within_window


def test_given_too_few_instances_when_projecting_then_the_window_is_missed() -> None:
    p = scaling.project(5, measured_rate=20.0, cpu_ms=10.0)
    assert p.rate == 100.0
    assert p.clear_seconds > 15 * 60
    assert not p.within_window


def test_given_the_figures_when_finding_the_fewest_instances_then_one_fewer_misses_the_window() -> None:
    fewest = scaling.smallest_instances(20.0, 10.0)
    assert scaling.project(fewest, measured_rate=20.0, cpu_ms=10.0).within_window
    assert not scaling.project(fewest - 1, measured_rate=20.0, cpu_ms=10.0).within_window
