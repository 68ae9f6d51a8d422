"""The refresh function's direct-invocation contract: error answers travel as codes and come back
as the same problem documents on the api side; nothing secret or internal crosses."""

from __future__ import annotations

import json

import pytest

from oauth_broker.errors import BrokerError, NeedsReauth, NotFound, ProviderDisabled, UpstreamError
from oauth_broker.store.models import ConnectionRecord
from oauth_broker.tokens.invocation import (
    connection_public_fields,
    error_answer,
    error_from_answer,
    handle_invocation,
)
from oauth_broker.tokens.refresher import AccessToken, ensure_usable, needs_reauth_error
from oauth_broker.tokens.revocation import RevocationReport
from oauth_broker.tokens.sweep import is_scheduled_event


def conn(**fields) -> ConnectionRecord:
    base = dict(
        id="con_1",
        tenant="acme",
        owner="alice",
        name="Work",
        provider="google-mail",
        oauth_client_id="ocl_1",
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:00Z",
        enc_access_token="v1.AAAA.BBBB.CCCC",
        enc_refresh_token="v1.DDDD.EEEE.FFFF",
    )
    return ConnectionRecord(**{**base, **fields})


@pytest.mark.parametrize(
    "err",
    [
        needs_reauth_error(conn(status="needs_reauth", status_reason="invalid_grant")),
        ProviderDisabled("provider google-mail is disabled for this tenant", connection_id="con_1"),
        NotFound("connection con_1 not found"),
        UpstreamError("refresh failed", reason="http_503", headers={"Retry-After": "5"}),
    ],
    ids=lambda e: e.code,
)
def test_given_a_domain_error_when_it_crosses_the_invocation_then_the_same_problem_comes_back(err):
    back = error_from_answer(error_answer(err)["error"])
    assert type(back) is type(err)
    assert (back.status, back.code, back.detail) == (err.status, err.code, err.detail)
    assert {k: v for k, v in back.extra.items() if v is not None} == {
        k: v for k, v in err.extra.items() if v is not None
    }
    assert back.headers == err.headers


def test_given_an_unknown_or_malformed_error_answer_when_mapped_then_it_is_a_plain_500():
    for answer in ({"code": "internal_error", "detail": "boom"}, {"code": "validation_error"}, "nonsense"):
        err = error_from_answer(answer)
        assert type(err) is BrokerError and err.status == 500 and err.code == "internal_error"


def test_given_a_connection_when_its_public_fields_are_taken_then_no_ciphertext_is_among_them():
    fields = connection_public_fields(conn())
    assert not [k for k in fields if k.startswith("enc_")]
    assert "v1." not in str(fields) and fields["id"] == "con_1"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"action": "refresh"},
        {"action": "sweep", "tenant": "acme", "connection_id": "con_1"},
        {"action": "refresh", "tenant": "", "connection_id": "con_1"},
        {"action": "revoke", "tenant": "acme", "connection_id": "con_1", "budget_ms": 10},
        {"action": "revoke", "tenant": "acme", "connection_id": "ocl_1"},
    ],
)
def test_given_an_invalid_payload_when_handled_then_a_validation_error_answer_names_no_value(payload):
    answer = handle_invocation(None, payload, deadline=0.0)  # type: ignore[arg-type] - never reached
    assert answer["error"]["code"] == "validation_error"
    assert "invalid invocation" in answer["error"]["detail"]


@pytest.mark.parametrize(
    "report",
    [
        RevocationReport("con_1", deleted=True, revoked=False, outcome="failed", error="http_503"),
        RevocationReport("con_1", deleted=True, revoked=True, outcome="already_invalid"),
        RevocationReport(
            "con_1", deleted=True, revoked=False, outcome="kept_shared_grant", shared_with=("con_2", "con_3")
        ),
    ],
    ids=["failed", "already_invalid", "kept_shared_grant"],
)
def test_given_a_report_when_it_crosses_the_invocation_then_it_comes_back_equal(report):
    answer = json.loads(json.dumps(report.as_dict()))  # what the Lambda runtime carries
    assert RevocationReport.from_dict(answer) == report
    assert RevocationReport.from_dict({"outcome": "surprise"}).outcome == "failed"


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        ("needs_reauth", "invalid_grant", NeedsReauth),
        ("revoked", "provider_disabled", ProviderDisabled),
        ("revoked", "deleted", NotFound),
    ],
)
def test_given_a_connection_that_may_not_be_used_when_checked_then_the_matching_problem_is_raised(
    status, reason, error
):
    with pytest.raises(error):
        ensure_usable(conn(status=status, status_reason=reason))


@pytest.mark.parametrize("status", ["active", "partial"])
def test_given_a_usable_connection_when_checked_then_nothing_is_raised(status):
    ensure_usable(conn(status=status))


def test_given_an_access_token_when_printed_then_the_token_is_hidden():
    token = AccessToken("ya29.secret-value", 1, ("scope",), 3)
    assert "ya29" not in repr(token) and "ya29" not in str(token) and "connection_version=3" in repr(token)


def test_given_events_when_classified_then_only_the_schedule_is_a_sweep():
    assert is_scheduled_event({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})
    assert not is_scheduled_event({"action": "refresh", "tenant": "acme", "connection_id": "con_1"})
    assert not is_scheduled_event({"source": "oauth-broker", "detail-type": "connection.created"})
