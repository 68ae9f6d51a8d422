"""`RefreshSchedule.due_at`: the one rule for a connection's next background refresh (refresh ahead
while busy, a liveness refresh while idle), as a pure function of the item."""

from __future__ import annotations

from typing import Any

import pytest

from oauth_broker.store.models import ConnectionRecord, ConnectionStatus
from oauth_broker.store.schedule import RefreshSchedule
from oauth_broker.timeutil import rfc3339

HOUR = 3600
DAY = 24 * HOUR
NOW = 1_800_000_000
SCHEDULE = RefreshSchedule(refresh_ahead=300, active_within=DAY, liveness_for=lambda _p: DAY)


def connection(**changes: Any) -> ConnectionRecord:
    fields: dict[str, Any] = {
        "id": "con_1",
        "tenant": "acme",
        "owner": "alice",
        "name": "n",
        "provider": "google-mail",
        "oauth_client_id": "ocl_1",
        "created_at": rfc3339(NOW - 10 * DAY),
        "updated_at": rfc3339(NOW),
        "last_refreshed_at": rfc3339(NOW),
        "expires_at": NOW + HOUR,
        "enc_access_token": "blob-a",
        "enc_refresh_token": "blob-r",
    }
    fields.update(changes)
    return ConnectionRecord(**fields)


def test_given_a_connection_used_an_hour_ago_then_it_is_due_at_its_refresh_ahead_time():
    assert SCHEDULE.due_at(connection(last_used_at=NOW - HOUR)) == NOW + HOUR - 300


def test_given_a_connection_unused_for_two_days_then_it_is_due_a_liveness_interval_after_its_last_refresh():
    assert SCHEDULE.due_at(connection(last_used_at=NOW - 2 * DAY)) == NOW + DAY


def test_given_a_connection_never_used_then_its_creation_counts_as_its_last_use():
    assert SCHEDULE.due_at(connection(created_at=rfc3339(NOW - HOUR))) == NOW + HOUR - 300
    assert SCHEDULE.due_at(connection()) == NOW + DAY


def test_given_a_connection_whose_activity_ends_before_its_refresh_ahead_time_then_it_is_already_idle():
    # used 23h56m ago: at the refresh-ahead time (55 min from now) it will be idle for a while
    rec = connection(last_used_at=NOW - DAY + 240)
    assert SCHEDULE.due_at(rec) == NOW + DAY
    # used 23h ago: still busy at the refresh-ahead time
    assert SCHEDULE.due_at(connection(last_used_at=NOW - DAY + HOUR)) == NOW + HOUR - 300


def test_given_an_idle_connection_never_refreshed_then_the_liveness_interval_runs_from_its_creation():
    hourly = RefreshSchedule(refresh_ahead=300, active_within=HOUR, liveness_for=lambda _p: DAY)
    created = NOW - 2 * DAY  # with a two-hour token, never used nor refreshed since
    rec = connection(last_refreshed_at=None, created_at=rfc3339(created), expires_at=created + 2 * HOUR)
    assert hourly.due_at(rec) == created + DAY  # overdue: the next sweep checks it


def test_given_an_idle_connection_whose_token_outlives_the_liveness_interval_then_refresh_ahead_wins():
    rec = connection(last_used_at=NOW - 5 * DAY, expires_at=NOW + 3 * DAY)
    assert SCHEDULE.due_at(rec) == NOW + 3 * DAY - 300


def test_given_a_provider_with_its_own_liveness_interval_then_an_idle_connection_follows_it():
    weekly = RefreshSchedule(refresh_ahead=300, active_within=DAY, liveness_for=lambda p: 7 * DAY)
    assert weekly.due_at(connection(last_used_at=NOW - 2 * DAY)) == NOW + 7 * DAY


def test_given_a_shorter_activity_window_then_a_connection_idles_sooner():
    hourly = RefreshSchedule(refresh_ahead=300, active_within=HOUR, liveness_for=lambda _p: DAY)
    assert hourly.due_at(connection(last_used_at=NOW - 2 * HOUR)) == NOW + DAY
    assert hourly.due_at(connection(last_used_at=NOW)) == NOW + HOUR - 300


@pytest.mark.parametrize(
    "changes",
    [
        {"status": ConnectionStatus.NEEDS_REAUTH},
        {"status": ConnectionStatus.REVOKED},
        {"status": ConnectionStatus.PENDING},
        {"enc_refresh_token": None},
        {"expires_at": None},
    ],
)
def test_given_a_connection_that_cannot_be_refreshed_then_it_is_never_due(changes):
    assert SCHEDULE.due_at(connection(last_used_at=NOW, **changes)) is None


def test_given_a_partial_connection_then_it_is_scheduled_like_an_active_one():
    rec = connection(status=ConnectionStatus.PARTIAL, last_used_at=NOW)
    assert SCHEDULE.due_at(rec) == NOW + HOUR - 300


def test_given_active_within_hours_in_the_environment_then_the_connection_store_schedules_with_it():
    from oauth_broker.config import BrokerConfig
    from oauth_broker.services import Services

    env = {
        "TABLE_NAME": "broker",
        "KMS_KEY_ID": "alias/broker",
        "EVENT_BUS_NAME": "bus",
        "JWT_ISSUER": "https://idp.test",
        "JWT_AUDIENCE": "broker",
        "JWKS_URL": "https://idp.test/jwks",
        "ACTIVE_WITHIN_HOURS": "6",
        "REFRESH_AHEAD_SECONDS": "120",
    }
    services = Services(BrokerConfig.from_env(env), dynamodb=object())

    schedule = services.connections.schedule

    assert (schedule.active_within, schedule.refresh_ahead) == (6 * HOUR, 120)
    assert schedule.liveness_for("google-mail") == DAY  # the catalog's Google entry


@pytest.mark.parametrize("value", ["0", "721", "day"])
def test_given_an_out_of_range_active_within_hours_then_the_configuration_names_it(value):
    from oauth_broker.config import BrokerConfig
    from oauth_broker.errors import ConfigurationError

    env = {
        "TABLE_NAME": "broker",
        "KMS_KEY_ID": "alias/broker",
        "EVENT_BUS_NAME": "bus",
        "JWT_ISSUER": "https://idp.test",
        "JWT_AUDIENCE": "broker",
        "JWKS_URL": "https://idp.test/jwks",
        "ACTIVE_WITHIN_HOURS": value,
    }
    with pytest.raises(ConfigurationError, match="ACTIVE_WITHIN_HOURS"):
        BrokerConfig.from_env(env)
