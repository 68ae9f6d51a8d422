"""The cost bench's arithmetic: prices x counts -> dollars, DynamoDB's request-unit rules, Lambda
GB-seconds at a memory size, and each function's memory read from template.yaml."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_cost_under_test", ROOT / "bench" / "bench_cost.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


cost = _load()

TEMPLATE = """
Globals:
  Function:
    Runtime: python3.13
    MemorySize: 512
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Ref AWS::StackName
  ProxyFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/proxy
      MemorySize: 256
      Role: !GetAtt ProxyRole.Arn
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/api
      Environment:
        Variables:
          QUEUE: !If [HasQueue, !Ref Queue, !Ref AWS::NoValue]
"""


def test_given_a_template_then_each_function_has_its_own_memory_or_the_globals_default():
    memory = cost.function_memory(cost.parse_template(TEMPLATE))

    assert memory == {"ProxyFunction": 256, "ApiFunction": 512}


def test_given_no_memory_anywhere_then_a_function_gets_lambdas_default_of_128_mb():
    template = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: f}\n"

    assert cost.function_memory(cost.parse_template(template)) == {"F": 128}


def test_given_the_repositorys_template_then_every_function_has_a_memory_size():
    memory = cost.function_memory(cost.parse_template(cost.TEMPLATE_PATH.read_text()))

    assert {"ProxyFunction", "AuthorizerFunction", "RefreshFunction"} <= set(memory)
    assert all(128 <= mb <= 10240 for mb in memory.values())


def test_given_the_price_table_then_every_price_has_a_source_and_a_date():
    prices = cost.load_prices()

    assert {
        "apigw_http_request",
        "lambda_request",
        "lambda_gb_second",
        "dynamodb_rru",
        "dynamodb_wru",
        "kms_request",
        "eventbridge_event",
        "sqs_request",
    } <= set(prices)
    for price in prices.values():
        assert price.source.startswith("https://aws.amazon.com/") and price.as_of and price.usd > 0
    assert prices["kms_request"].each == pytest.approx(0.03 / 10_000)


def test_given_usage_and_prices_then_dollars_are_quantity_times_unit_price_per_meter():
    prices = {
        "kms_request": cost.Price(0.03, 10_000, "request", "https://aws.amazon.com/kms/pricing/", "2024"),
        "dynamodb_wru": cost.Price(0.625, 1_000_000, "WRU", "https://aws.amazon.com/dynamodb/", "2024"),
    }

    out = cost.dollars({"kms_request": 2_000_000, "dynamodb_wru": 4, "unused": 0}, prices)

    assert out == pytest.approx({"kms_request": 6.0, "dynamodb_wru": 2.5e-6})


def test_given_a_meter_without_a_price_then_dollars_refuses_it():
    with pytest.raises(KeyError):
        cost.dollars({"x_request": 1}, {})


def test_given_several_usages_then_add_sums_meters_and_scaled_divides_them():
    total = cost.add({"a": 1.0, "b": 2.0}, {"b": 3.0}, scale=2)

    assert total == {"a": 2.0, "b": 10.0}
    assert cost.scaled(total, 0.5) == {"a": 1.0, "b": 5.0}


@pytest.mark.parametrize(
    ("size", "consistent", "units"),
    [(0, True, 1.0), (4096, True, 1.0), (4097, True, 2.0), (100, False, 0.5), (9000, False, 1.5)],
)
def test_given_a_read_of_some_size_then_its_read_units_follow_dynamodbs_4kb_rule(size, consistent, units):
    assert cost.read_units(size, consistent=consistent) == units


def test_given_a_transactional_read_then_it_costs_twice_a_consistent_one():
    assert cost.read_units(5000, consistent=True, transactional=True) == 4.0


@pytest.mark.parametrize(("size", "units"), [(0, 1), (1024, 1), (1025, 2), (3000, 3)])
def test_given_a_write_of_some_size_then_its_write_units_follow_dynamodbs_1kb_rule(size, units):
    assert cost.write_units(size) == units
    assert cost.write_units(size, transactional=True) == 2 * units


def test_given_an_item_then_its_size_counts_names_and_values_by_dynamodbs_rules():
    item = {
        "pk": {"S": "CON#abc"},  # 2 + 7
        "n": {"N": "12345"},  # 1 + (3 + 1)
        "ok": {"BOOL": True},  # 2 + 1
        "b": {"B": b"\x00\x01\x02"},  # 1 + 3
        "l": {"L": [{"S": "ab"}]},  # 1 + 3 + 1 + 2
        "m": {"M": {"k": {"S": "v"}}},  # 1 + 3 + 1 + 1 + 1
    }

    assert cost.item_size(item) == 9 + 5 + 3 + 4 + 7 + 7
    assert cost.item_size(None) == 0


@pytest.mark.parametrize(("size", "count"), [(0, 1), (65536, 1), (65537, 2)])
def test_given_a_payload_then_it_is_billed_per_64kb_chunk(size, count):
    assert cost.chunks(size) == count


def test_given_own_work_and_waits_then_only_the_own_work_slows_down_below_a_full_vcpu():
    assert cost.duration_ms(10, 100, 1769) == 110
    assert cost.duration_ms(10, 100, 3538) == 110  # no faster above one vCPU (one thread)
    assert cost.duration_ms(10, 100, 256) == math.ceil(10 * 1769 / 256 + 100)


def test_given_a_billed_duration_then_gb_seconds_use_the_memory_in_gib():
    assert cost.gb_seconds(1000, 1024) == 1.0
    assert cost.gb_seconds(100, 256) == pytest.approx(0.025)


def test_given_a_warm_proxied_call_then_its_invocation_bills_the_modelled_upstream_not_the_fake():
    inv = cost.Invocation("ProxyFunction", wall_ms=12.0, aws_ms=8.0, upstream_ms=2.0, upstream_calls=1)

    assert inv.own_ms == pytest.approx(2.0)
    assert inv.billed_ms(1769, 100.0) == math.ceil(2.0 + 8.0 + 100.0)
    assert inv.billed_ms(256, 100.0) == math.ceil(2.0 * 1769 / 256 + 8.0 + 100.0)


def test_given_parallel_waits_longer_than_the_wall_time_then_they_are_fitted_into_it():
    # ten refreshes in flight at once: 10 x 40 ms of AWS waits inside 50 ms of wall time
    inv = cost.Invocation(
        "RefreshFunction", wall_ms=50.0, aws_ms=400.0, upstream_ms=100.0, upstream_calls=10, parallelism=10
    )

    assert inv.own_ms == 0.0
    assert inv.billed_ms(1769, 100.0) == math.ceil(400.0 * 50.0 / 500.0 + 100.0)


def test_given_a_value_over_its_goal_then_the_verdict_is_a_miss_by_how_much():
    assert cost.verdict(1.70, 1.75) == "PASS"
    assert cost.verdict(2.10, 1.75).startswith("MISS (by $0.35")


def test_given_counts_from_a_shorter_simulation_then_per_month_scales_them_to_thirty_days():
    counts = cost.MonthCounts(
        "minute", 3, background_refreshes=86, on_demand_refreshes=1, uses=4320, use_writes=72
    )

    month = counts.per_month()

    assert (month.days_simulated, month.background_refreshes, month.uses, month.use_writes) == (
        30,
        860,
        43200,
        720,
    )
    assert month.on_demand_refreshes == 10
