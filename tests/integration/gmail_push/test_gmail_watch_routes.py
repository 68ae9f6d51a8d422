"""PUT/GET/DELETE /v1/connections/{id}/gmail/watch, and the tenant's gmail_push settings."""

from __future__ import annotations

from brokertest.gmail_push import GMAIL_SETTINGS, TOPIC, PushWorld
from brokertest.proxy import ALICE, BOB, problem


def test_given_gmail_push_settings_when_an_admin_reads_them_then_they_come_back_as_set(gp: PushWorld):
    resp = gp.pw.call("GET", "/v1/settings", user="root", admin=True)

    assert resp.status_code == 200
    assert resp.get_json()["gmail_push"] == GMAIL_SETTINGS


def test_given_a_topic_that_is_not_a_pubsub_name_when_set_then_it_is_422_naming_the_field(gp: PushWorld):
    for topic in (
        "gmail",
        "projects/acme-prod/topics/",
        "projects/x/topics/gmail",
        "projects/acme-prod/topics/goog-x",
    ):
        resp = gp.pw.call(
            "PATCH",
            "/v1/settings",
            user="root",
            admin=True,
            json_body={"gmail_push": {**GMAIL_SETTINGS, "topic": topic}},
        )
        body = problem(resp)
        assert resp.status_code == 422 and body["code"] == "validation_error", topic
        assert body["errors"][0]["loc"][:3] == ["body", "gmail_push", "topic"], body


def test_given_a_service_account_that_is_not_one_when_set_then_it_is_422(gp: PushWorld):
    resp = gp.pw.call(
        "PATCH",
        "/v1/settings",
        user="root",
        admin=True,
        json_body={"gmail_push": {**GMAIL_SETTINGS, "push_service_account": "someone@gmail.com"}},
    )
    assert resp.status_code == 422
    assert problem(resp)["errors"][0]["loc"][:3] == ["body", "gmail_push", "push_service_account"]


def test_given_a_watchable_connection_when_watched_then_google_watches_the_tenants_topic(gp: PushWorld):
    rec = gp.pw.connect(["gmail.readonly"])

    resp = gp.watch(rec, {"label_ids": ["INBOX"], "label_filter_behavior": "include"})

    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    google = gp.fake.watches[(ALICE, gp.pw.clients[("acme", "google-mail")].client_id)]
    assert (
        google.topic == TOPIC and google.label_ids == ["INBOX"] and google.label_filter_behavior == "include"
    )
    assert body["active"] is True and body["topic"] == TOPIC and body["label_ids"] == ["INBOX"]
    assert body["history_id"] == body["last_history_id"] == str(gp.fake.mailbox(ALICE).history_id)
    assert body["expires_at"] and body["last_notification_at"] is None
    stored = gp.stored_watch(rec)
    assert stored is not None and stored.history_id == gp.fake.mailbox(ALICE).history_id
    assert stored.expires_at == int(google.expiration)


def test_given_a_watch_when_read_then_its_state_is_shown(gp: PushWorld):
    rec = gp.watched()

    resp = gp.pw.call("GET", f"/v1/connections/{rec.id}/gmail/watch")

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["active"] is True and body["connection_id"] == rec.id and body["label_ids"] == []


def test_given_no_watch_when_read_then_it_is_inactive(gp: PushWorld):
    rec = gp.pw.connect(["gmail.readonly"])

    resp = gp.pw.call("GET", f"/v1/connections/{rec.id}/gmail/watch")

    assert resp.status_code == 200 and resp.get_json() == {
        "active": False,
        "connection_id": rec.id,
        "topic": None,
        "label_ids": [],
        "label_filter_behavior": None,
        "history_id": None,
        "last_history_id": None,
        "expires_at": None,
        "renewed_at": None,
        "last_notification_at": None,
    }


def test_given_a_send_only_connection_when_watched_then_it_is_403_and_google_is_not_called(gp: PushWorld):
    rec = gp.pw.connect(["gmail.send"])

    resp = gp.watch(rec)

    assert resp.status_code == 403 and problem(resp)["code"] == "scope_not_granted"
    assert gp.pw.api_requests() == [] and gp.fake.watches == {}
    assert gp.stored_watch(rec) is None


def test_given_a_tenant_without_settings_when_watching_then_it_is_409_gmail_push_not_configured(
    gp: PushWorld,
):
    rec = gp.pw.connect(["gmail.readonly"], tenant="globex", owner="bob", email=BOB)

    resp = gp.watch(rec, user="bob")

    assert resp.status_code == 409 and problem(resp)["code"] == "gmail_push_not_configured"
    assert gp.fake.watches == {}


def test_given_someone_elses_connection_when_watched_then_it_is_404(gp: PushWorld):
    rec = gp.pw.connect(["gmail.readonly"])

    resp = gp.watch(rec, user="mallory")

    assert resp.status_code == 404
    assert gp.fake.watches == {}


def test_given_an_unknown_label_filter_when_watched_then_it_is_422(gp: PushWorld):
    rec = gp.pw.connect(["gmail.readonly"])

    resp = gp.watch(rec, {"label_filter_behavior": "sometimes"})

    assert resp.status_code == 422 and gp.fake.watches == {}


def test_given_a_watch_when_its_labels_change_then_the_history_already_announced_is_kept(gp: PushWorld):
    rec = gp.watched()
    first = gp.stored_watch(rec)
    gp.fake.pubsub.pause()  # its push is held: the message is not announced yet
    gp.fake.deliver_message(ALICE, "carol@example.org", "meanwhile", "text")

    resp = gp.watch(rec, {"label_ids": ["INBOX"]})

    assert resp.status_code == 200
    again = gp.stored_watch(rec)
    assert first is not None and again is not None
    assert again.history_id == first.history_id < again.start_history_id  # nothing skipped
    assert again.label_ids == ["INBOX"] and again.version == first.version + 1


def test_given_a_watch_when_deleted_then_google_stops_and_the_watch_is_gone(gp: PushWorld):
    rec = gp.watched()

    resp = gp.pw.call("DELETE", f"/v1/connections/{rec.id}/gmail/watch")

    assert resp.status_code == 204
    assert gp.fake.watches == {} and gp.stored_watch(rec) is None
    assert any(r.path.endswith("/stop") for r in gp.pw.api_requests())
    assert gp.pw.call("GET", f"/v1/connections/{rec.id}/gmail/watch").get_json()["active"] is False


def test_given_two_connections_sharing_googles_watch_when_one_stops_then_google_keeps_watching(gp: PushWorld):
    first = gp.watched()
    second = gp.watched(owner="alice")  # the same mailbox, the same OAuth client: one watch at Google

    resp = gp.pw.call("DELETE", f"/v1/connections/{first.id}/gmail/watch")

    assert resp.status_code == 204
    assert not any(r.path.endswith("/stop") for r in gp.pw.api_requests())
    assert len(gp.fake.watches) == 1 and gp.stored_watch(second) is not None
