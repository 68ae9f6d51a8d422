"""TokenRefresher against moto and the fake Google: warm path, refresh, rotation, dead tokens,
transient failures, disabled providers, and writes that race with the refresh."""

from __future__ import annotations

import time

import pytest

from brokertest.google import CLIENT_ID, GOOGLE_BASE
from brokertest.tokens import AwsCallCounter, FakeClock, connect_error, read_timeout
from oauth_broker.errors import NeedsReauth, NotFound, ProviderDisabled, UpstreamError
from oauth_broker.store.connections import ConnectionStore
from oauth_broker.store.models import ConnectionStatus
from oauth_broker.tokens.refresher import TokenRefresher

PROFILE = f"{GOOGLE_BASE}/gmail/v1/users/me/profile"


def google_accepts(tw, token: str) -> bool:
    resp = tw.services.http.get(PROFILE, headers={"Authorization": f"Bearer {token}"})
    return resp.status_code == 200


def clock_now() -> FakeClock:
    return FakeClock(start=time.time())


# -- warm path ----------------------------------------------------------------------------------------
def test_given_a_fresh_token_served_once_when_asked_again_then_no_kms_and_no_dynamodb_call_is_made(tw):
    rec, tokens = tw.seed()
    refresher = tw.refresher()
    first = refresher.get_fresh_token(rec)
    kms, ddb = AwsCallCounter(tw.world.aws.kms), AwsCallCounter(tw.world.aws.dynamodb)

    again = [refresher.get_fresh_token(rec) for _ in range(20)]

    assert kms.total == 0 and ddb.total == 0
    assert {t.token for t in again} == {first.token} == {tokens["access_token"]}
    assert tw.token_requests() == 0


def test_given_a_fresh_token_not_yet_cached_when_asked_then_it_is_decrypted_without_a_refresh(tw):
    rec, tokens = tw.seed()
    token = tw.refresher().get_fresh_token(rec)
    assert token.token == tokens["access_token"]
    assert token.connection_version == rec.version and token.expires_at == rec.expires_at
    assert tw.token_requests() == 0


def test_given_an_access_token_when_it_is_printed_then_its_value_is_not_shown(tw):
    rec, tokens = tw.seed()
    token = tw.refresher().get_fresh_token(rec)
    assert tokens["access_token"] not in repr(token) and tokens["access_token"] not in str(token)
    assert "expires_at" in repr(token)


# -- refresh ------------------------------------------------------------------------------------------
def test_given_an_expired_token_when_asked_then_it_is_refreshed_stored_and_accepted_by_google(tw):
    rec, tokens = tw.seed(expires_in=0)

    token = tw.refresher().get_fresh_token(rec)

    stored = tw.stored(rec.id)
    assert tw.token_requests() == 1
    assert token.token != tokens["access_token"] and google_accepts(tw, token.token)
    assert stored.version == rec.version + 1 == token.connection_version
    assert tw.decrypt(stored, "access_token") == token.token
    assert stored.expires_at == token.expires_at and stored.expires_at > time.time() + 3000
    assert stored.last_refreshed_at and stored.refresh_failures == 0


def test_given_a_refresh_response_without_refresh_token_when_stored_then_the_stored_refresh_token_is_kept(tw):
    rec, tokens = tw.seed(expires_in=0)
    tw.refresher().get_fresh_token(rec)
    stored = tw.stored(rec.id)
    assert stored.enc_refresh_token == rec.enc_refresh_token
    assert tw.decrypt(stored, "refresh_token") == tokens["refresh_token"]
    # and it still works
    tw.refresher().get_fresh_token(stored, force=True)
    assert tw.token_requests() == 2


def test_given_a_rotating_provider_when_refreshed_then_the_new_refresh_token_is_stored_before_it_is_used(
    rotating_tw,
):
    tw = rotating_tw
    rec, tokens = tw.seed(expires_in=0)

    token = tw.refresher().get_fresh_token(rec)

    stored = tw.stored(rec.id)
    new_refresh = tw.decrypt(stored, "refresh_token")
    assert new_refresh != tokens["refresh_token"]
    assert tw.fake.token_info(new_refresh)["active"] is True
    assert tw.decrypt(stored, "access_token") == token.token
    # the old one is dead at the provider; the stored one keeps the connection alive
    second = tw.refresher().get_fresh_token(stored, force=True)
    assert google_accepts(tw, second.token) and tw.token_requests() == 2
    assert tw.stored(rec.id).status == ConnectionStatus.ACTIVE


def test_given_force_when_the_token_is_still_fresh_then_a_new_one_is_obtained(tw):
    rec, tokens = tw.seed()
    token = tw.refresher().get_fresh_token(rec, force=True)
    assert token.token != tokens["access_token"] and tw.token_requests() == 1
    assert tw.stored(rec.id).version == rec.version + 1


def test_given_a_refreshed_connection_when_read_then_its_due_time_moved_with_the_new_expiry(tw):
    rec, _ = tw.seed(expires_in=0)
    token = tw.refresher().get_fresh_token(rec)
    item = tw.world.services.table.get(*ConnectionStore.key(rec.id))
    assert item["due_at"] == token.expires_at - tw.services.config.refresh_ahead_seconds


# -- dead refresh tokens --------------------------------------------------------------------------------
def test_given_a_revoked_grant_when_refreshing_then_the_connection_needs_reauth_and_an_event_says_so(tw):
    rec, _ = tw.seed(expires_in=0)
    tw.fake.revoke_all_for("alice@example.com")

    with pytest.raises(NeedsReauth) as caught:
        tw.refresher().get_fresh_token(rec)

    err = caught.value
    assert err.status == 409 and err.code == "needs_reauth"
    assert err.extra["connection_id"] == rec.id and "connect session" in err.extra["hint"]
    stored = tw.stored(rec.id)
    assert stored.status == ConnectionStatus.NEEDS_REAUTH and stored.status_reason == "invalid_grant"
    (event,) = tw.events_of("connection.needs_reauth")
    assert event["connection"]["connection_id"] == rec.id and event["reason"] == "invalid_grant"
    assert event["connection"]["status"] == "needs_reauth"
    item = tw.world.services.table.get(*ConnectionStore.key(rec.id))
    assert "due_pk" not in item  # out of the sweep's index


def test_given_a_connection_marked_needs_reauth_when_asked_again_then_it_fails_at_once_without_a_request(tw):
    rec, _ = tw.seed(expires_in=0)
    tw.fake.revoke_all_for("alice@example.com")
    refresher = tw.refresher()
    with pytest.raises(NeedsReauth):
        refresher.get_fresh_token(rec)
    stored = tw.stored(rec.id)
    ddb = AwsCallCounter(tw.world.aws.dynamodb)

    with pytest.raises(NeedsReauth):
        refresher.get_fresh_token(stored)

    assert tw.token_requests() == 1 and ddb.total == 0
    assert len(tw.events_of("connection.needs_reauth")) == 1


def test_given_an_expired_connection_without_refresh_token_when_asked_then_it_needs_reauth(tw):
    rec, _ = tw.seed(expires_in=0)
    bare = tw.world.services.connections.save(
        rec.model_copy(update={"enc_refresh_token": None}), expected_version=rec.version
    )
    with pytest.raises(NeedsReauth):
        tw.refresher().get_fresh_token(bare)
    assert tw.stored(rec.id).status_reason == "no_refresh_token" and tw.token_requests() == 0


# -- transient failures ---------------------------------------------------------------------------------
FAULTS = {
    "http_503": lambda tw, n: tw.fake.fail_next("token", status=503, count=n),
    "http_500": lambda tw, n: tw.fake.fail_next("token", status=500, count=n),
    "rate_limit_exceeded": lambda tw, n: tw.fake.fail_next("token", status=429, count=n, retry_after=1),
    "timeout": lambda tw, n: tw.faults.fail_next("/token", read_timeout, n),
    "network_error": lambda tw, n: tw.faults.fail_next("/token", connect_error, n),
}


@pytest.mark.parametrize("code", sorted(FAULTS))
def test_given_a_failing_token_endpoint_when_retries_run_out_then_refresh_failed_and_the_connection_is_kept(
    tw, code
):
    rec, tokens = tw.seed(expires_in=0)
    clock = clock_now()
    FAULTS[code](tw, 4)

    with pytest.raises(UpstreamError) as caught:
        tw.refresher(clock=clock, max_attempts=4).get_fresh_token(rec, deadline=clock.monotonic() + 30)

    assert caught.value.code == "upstream_error" and caught.value.extra["reason"] == code
    stored = tw.stored(rec.id)
    assert stored.status == ConnectionStatus.ACTIVE
    assert (
        stored.enc_access_token == rec.enc_access_token and stored.enc_refresh_token == rec.enc_refresh_token
    )
    assert stored.refresh_failures == 1 and stored.last_refresh_error == code
    (event,) = tw.events_of("connection.refresh_failed")
    assert event["error"] == code and event["attempts"] == 4 and event["refresh_failures"] == 1
    assert len(clock.sleeps) == 3  # backoff between the four attempts
    assert tw.fake.pending_failures == [] and tw.faults._faults == []
    # the stored refresh token is untouched and still good
    assert tw.decrypt(stored, "refresh_token") == tokens["refresh_token"]


def test_given_two_transient_failures_when_refreshing_then_the_third_attempt_succeeds_quietly(tw):
    rec, _ = tw.seed(expires_in=0)
    tw.fake.fail_next("token", status=503, count=2)
    clock = clock_now()

    token = tw.refresher(clock=clock).get_fresh_token(rec, deadline=clock.monotonic() + 30)

    assert google_accepts(tw, token.token) and tw.token_requests() == 3
    assert tw.events_of("connection.refresh_failed") == [] and tw.stored(rec.id).refresh_failures == 0


def test_given_a_rate_limit_with_retry_after_when_retrying_then_the_wait_honours_it(tw):
    rec, _ = tw.seed(expires_in=0)
    tw.fake.fail_next("token", status=429, count=1, retry_after=3)
    clock = clock_now()
    tw.refresher(clock=clock).get_fresh_token(rec, deadline=clock.monotonic() + 30)
    assert clock.sleeps and clock.sleeps[0] >= 3


def test_given_a_deadline_shorter_than_the_backoff_when_failing_then_it_gives_up_in_time(tw):
    rec, _ = tw.seed(expires_in=0)
    tw.fake.fail_next("token", status=503, count=10)
    clock = clock_now()
    start = clock.monotonic()
    with pytest.raises(UpstreamError):
        tw.refresher(clock=clock).get_fresh_token(rec, deadline=start + 1.0)
    assert clock.monotonic() <= start + 1.0
    assert len(tw.events_of("connection.refresh_failed")) == 1


def test_given_a_still_valid_token_near_expiry_when_the_provider_fails_then_the_current_token_is_served(tw):
    rec, tokens = tw.seed(expires_in=200)  # inside refresh_ahead (300 s), still valid
    tw.fake.fail_next("token", status=503, count=5)
    clock = clock_now()
    refresher = tw.refresher(clock=clock)

    token = refresher.get_fresh_token(rec, deadline=clock.monotonic() + 30)
    again = refresher.get_fresh_token(tw.stored(rec.id), deadline=clock.monotonic() + 30)

    assert token.token == again.token == tokens["access_token"]
    assert tw.token_requests() == 1  # one opportunistic attempt, then a cool-down
    assert len(tw.events_of("connection.refresh_failed")) == 1


def test_given_an_invalid_client_secret_cached_when_the_admin_rotated_it_then_one_reload_fixes_the_refresh(
    tw,
):
    rec, _ = tw.seed(expires_in=0)
    refresher = tw.refresher()
    refresher.client_credentials(rec.tenant, rec.oauth_client_id)  # cached: the current secret
    # the admin rotates the secret at Google and in the broker
    from oauth_broker.crypto.envelope import EncryptionContext

    tw.fake.config.clients[CLIENT_ID] = "GOCSPX-rotated-secret-0002"
    client = tw.services.oauth_clients.get(rec.tenant, rec.oauth_client_id)
    blob = tw.services.envelope.encrypt(
        b"GOCSPX-rotated-secret-0002", EncryptionContext(rec.tenant, client.id, "client_secret")
    )
    tw.services.oauth_clients.save(
        client.model_copy(update={"enc_client_secret": blob}), expected_version=client.version
    )

    token = refresher.get_fresh_token(rec)

    assert google_accepts(tw, token.token) and tw.token_requests() == 2


# -- status gates --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        (ConnectionStatus.REVOKED, "provider_disabled", ProviderDisabled),
        (ConnectionStatus.REVOKED, "deleted", NotFound),
        (ConnectionStatus.NEEDS_REAUTH, "invalid_grant", NeedsReauth),
    ],
)
def test_given_a_connection_that_may_not_be_used_when_asked_then_it_is_refused_at_once(
    tw, status, reason, error
):
    rec, _ = tw.seed(expires_in=0, status=status, status_reason=reason)
    kms, ddb = AwsCallCounter(tw.world.aws.kms), AwsCallCounter(tw.world.aws.dynamodb)

    with pytest.raises(error):
        tw.refresher().get_fresh_token(rec, force=True)

    assert tw.token_requests() == 0 and kms.total == 0 and ddb.total == 0


def test_given_a_provider_disabled_while_refreshing_when_the_refresher_rereads_then_it_refuses(tw):
    rec, _ = tw.seed(expires_in=0)
    disabled = tw.world.services.connections.save(
        rec.model_copy(update={"status": ConnectionStatus.REVOKED, "status_reason": "provider_disabled"}),
        expected_version=rec.version,
    )
    with pytest.raises(ProviderDisabled):
        tw.refresher().get_fresh_token(rec)  # the caller's stale read said active
    assert tw.token_requests() == 0 and tw.stored(rec.id).version == disabled.version


# -- writes racing with the refresh ----------------------------------------------------------------------
class EditBeforeFirstSave(ConnectionStore):
    """Someone PATCHes the connection's name between the refresher's read and its write."""

    def __init__(self, inner: ConnectionStore):
        super().__init__(inner.table, refresh_ahead_seconds=inner.refresh_ahead)
        self.edited = False

    def save(self, rec, *, expected_version, **kwargs):
        if not self.edited:
            self.edited = True
            current = self.get(rec.id)
            super().save(
                current.model_copy(update={"name": "Renamed meanwhile"}), expected_version=current.version
            )
        return super().save(rec, expected_version=expected_version, **kwargs)


def test_given_a_concurrent_edit_when_storing_a_rotated_refresh_token_then_both_changes_survive(rotating_tw):
    tw = rotating_tw
    rec, tokens = tw.seed(expires_in=0)
    store = EditBeforeFirstSave(tw.services.connections)

    token = tw.refresher(connections=store).get_fresh_token(rec)

    stored = tw.stored(rec.id)
    assert stored.name == "Renamed meanwhile"
    assert tw.decrypt(stored, "access_token") == token.token
    new_refresh = tw.decrypt(stored, "refresh_token")
    assert new_refresh != tokens["refresh_token"] and tw.fake.token_info(new_refresh)["active"]
    assert stored.version == rec.version + 2


class DeleteBeforeFirstSave(ConnectionStore):
    def __init__(self, inner: ConnectionStore):
        super().__init__(inner.table, refresh_ahead_seconds=inner.refresh_ahead)

    def save(self, rec, *, expected_version, **kwargs):
        self.delete(rec.id)
        return super().save(rec, expected_version=expected_version, **kwargs)


def test_given_the_connection_deleted_during_a_refresh_when_storing_then_the_new_tokens_are_revoked(tw):
    rec, tokens = tw.seed(expires_in=0)

    with pytest.raises(NotFound):
        tw.refresher(connections=DeleteBeforeFirstSave(tw.services.connections)).get_fresh_token(rec)

    (revocation,) = tw.fake.revocations
    assert revocation.token != tokens["refresh_token"] and revocation.token_kind == "access_token"
    assert revocation.outcome == "revoked"
    assert tw.world.services.connections.get(rec.id) is None


class RotatedBehindOurBack(ConnectionStore):
    """After our re-read, another refresher (whose lease outlived ours) rotates the refresh token
    and stores the result: the refresh token we are about to send is already dead."""

    def __init__(self, tw):
        super().__init__(
            tw.services.connections.table, refresh_ahead_seconds=tw.services.config.refresh_ahead_seconds
        )
        self.tw = tw
        self.other_token = None

    def get(self, connection_id):
        current = super().get(connection_id)
        if self.other_token is None and current is not None:
            from oauth_broker.crypto.envelope import EncryptionContext
            from oauth_broker.tokens.endpoint import ProviderTokenClient

            tw, other = self.tw, TokenRefresher(self.tw.services)
            provider = other.provider_of(current)
            creds = other.client_credentials(current.tenant, current.oauth_client_id)
            response = ProviderTokenClient(tw.services.http).refresh(
                provider, creds, tw.decrypt(current, "refresh_token"), timeout=5
            )
            envelope = tw.services.envelope
            rotated = current.model_copy(
                update={
                    "enc_access_token": envelope.encrypt(
                        response.access_token.encode(),
                        EncryptionContext(current.tenant, current.id, "access_token"),
                    ),
                    "enc_refresh_token": envelope.encrypt(
                        response.refresh_token.encode(),
                        EncryptionContext(current.tenant, current.id, "refresh_token"),
                    ),
                    "expires_at": int(time.time()) + 3600,
                }
            )
            super().save(rotated, expected_version=current.version)
            self.other_token = response.access_token
        return current


def test_given_a_refresh_token_rotated_by_another_refresher_when_ours_gets_invalid_grant_then_theirs_is_used(
    rotating_tw,
):
    tw = rotating_tw
    rec, _ = tw.seed(expires_in=0)
    store = RotatedBehindOurBack(tw)

    token = tw.refresher(connections=store).get_fresh_token(rec)

    assert token.token == store.other_token and google_accepts(tw, token.token)
    assert tw.token_requests() == 2  # theirs succeeded, ours was refused with invalid_grant
    assert tw.stored(rec.id).status == ConnectionStatus.ACTIVE
    assert tw.events_of("connection.needs_reauth") == []
