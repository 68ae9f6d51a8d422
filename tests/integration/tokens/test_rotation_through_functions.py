"""A provider that rotates refresh tokens, met by the deployed functions themselves (test_refresher.py
drives TokenRefresher directly): the refresh function (forced refresh) and the proxy function (an
expired access token) both store the new refresh token, encrypted under their own data key. This
is also what records their `kms:GenerateDataKey` for `refresh_token`, which template.yaml grants
them (tests/infrastructure/test_iam_from_behaviour.py)."""

from __future__ import annotations


def test_given_a_rotating_provider_when_a_refresh_is_forced_then_the_refresh_function_stores_the_new_one(
    rotating_tw,
):
    tw = rotating_tw
    rec, tokens = tw.seed()

    resp = tw.world.request(
        "POST", f"/v1/connections/{rec.id}/refresh", token=tw.world.token("acme", "alice")
    )

    assert resp.status_code == 200, resp.get_data(as_text=True)
    stored = tw.stored(rec.id)
    assert tw.decrypt(stored, "refresh_token") not in ("", tokens["refresh_token"])
    assert stored.enc_refresh_token != rec.enc_refresh_token
    assert tw.token_requests() == 1


def test_given_a_rotating_provider_and_an_expired_token_when_tested_then_the_proxy_stores_the_new_one(
    rotating_tw,
):
    tw = rotating_tw
    rec, tokens = tw.seed(expires_in=-60)

    resp = tw.world.request("POST", f"/v1/connections/{rec.id}/test", token=tw.world.token("acme", "alice"))

    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.json["ok"] is True, resp.json
    stored = tw.stored(rec.id)
    assert tw.decrypt(stored, "refresh_token") not in ("", tokens["refresh_token"])
    assert tw.decrypt(stored, "access_token") != tokens["access_token"]
    assert tw.token_requests() == 1
