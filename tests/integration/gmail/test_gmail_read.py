"""GET /v1/connections/{id}/gmail/messages and .../messages/{message_id}."""

from __future__ import annotations

from brokertest.proxy import ALICE, problem


def messages(pw, rec, **query):
    return pw.call("GET", f"/v1/connections/{rec.id}/gmail/messages", query_string=query)


def message(pw, rec, message_id, **query):
    return pw.call("GET", f"/v1/connections/{rec.id}/gmail/messages/{message_id}", query_string=query)


def test_given_a_mailbox_when_messages_are_listed_then_ids_and_thread_ids_come_back_newest_first(pw):
    rec = pw.connect(["gmail.readonly"])
    expected = [{"id": m.id, "thread_id": m.thread_id} for m in pw.fake.mailbox(ALICE).search()]

    resp = messages(pw, rec)

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["data"] == expected and body["next_cursor"] is None


def test_given_a_limit_when_paging_with_the_cursor_then_every_message_comes_once(pw):
    rec = pw.connect(["gmail.readonly"])
    total = len(pw.fake.mailbox(ALICE).search())

    seen, cursor = [], None
    for _ in range(total + 1):
        page = messages(pw, rec, limit=2, **({"cursor": cursor} if cursor else {})).get_json()
        seen += [m["id"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == total == len(set(seen))
    first = pw.api_requests()[0]
    assert first.query["maxResults"] == ["2"] and "pageToken" not in first.query
    assert pw.api_requests()[1].query["pageToken"]


def test_given_a_query_and_labels_when_listed_then_gmail_gets_q_and_every_label(pw):
    rec = pw.connect(["gmail.readonly"])

    resp = messages(pw, rec, q="is:unread", label_ids="INBOX,UNREAD")

    assert resp.status_code == 200
    expected = pw.fake.mailbox(ALICE).search("is:unread", ["INBOX", "UNREAD"])
    assert [m["id"] for m in resp.get_json()["data"]] == [m.id for m in expected]
    (seen,) = pw.api_requests()
    assert seen.query["q"] == ["is:unread"] and seen.query["labelIds"] == ["INBOX", "UNREAD"]


def test_given_a_limit_outside_1_to_100_when_listed_then_it_is_422(pw):
    rec = pw.connect(["gmail.readonly"])

    for limit in (0, 101, "ten"):
        body = problem(messages(pw, rec, limit=limit))
        assert body["code"] == "validation_error" and body["errors"][0]["loc"] == ["query", "limit"]
    assert pw.api_requests() == []


def test_given_a_send_only_connection_when_listing_then_it_is_403_scope_not_granted(pw):
    rec = pw.connect(["gmail.send"])

    resp = messages(pw, rec)

    assert resp.status_code == 403 and problem(resp)["code"] == "scope_not_granted"


def test_given_a_contacts_connection_when_gmail_is_listed_then_it_is_400_provider_mismatch(pw):
    rec = pw.connect(["contacts.readonly"], provider="google-contacts")

    assert problem(messages(pw, rec))["code"] == "provider_mismatch"


def test_given_a_message_when_read_in_full_then_headers_bodies_and_attachments_are_decoded(pw):
    rec = pw.connect(["gmail.readonly"])
    stored = next(m for m in pw.fake.mailbox(ALICE).search() if m.attachments)

    resp = message(pw, rec, stored.id)

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["id"] == stored.id and body["thread_id"] == stored.thread_id
    assert body["headers"]["subject"] == stored.header("Subject")
    assert body["text"] or body["html"]
    assert body["attachments"] and all(a["attachment_id"] for a in body["attachments"])
    assert body["raw"] is None


def test_given_format_metadata_or_raw_when_read_then_gmail_is_asked_for_that_format(pw):
    rec = pw.connect(["gmail.readonly"])
    stored = pw.fake.mailbox(ALICE).search()[0]

    metadata = message(pw, rec, stored.id, format="metadata").get_json()
    raw = message(pw, rec, stored.id, format="raw").get_json()

    assert metadata["text"] is None and metadata["html"] is None and metadata["headers"]["subject"]
    assert raw["raw"] and raw["headers"]["subject"] == metadata["headers"]["subject"]
    assert [r.query["format"] for r in pw.api_requests()] == [["metadata"], ["raw"]]


def test_given_an_unknown_format_when_read_then_it_is_422(pw):
    rec = pw.connect(["gmail.readonly"])

    assert problem(message(pw, rec, "abc", format="minimalist"))["code"] == "validation_error"


def test_given_an_id_that_is_not_a_gmail_id_when_read_then_it_is_422_and_nothing_is_sent(pw):
    rec = pw.connect(["gmail.readonly"])

    resp = message(pw, rec, "abc%2e%2e")

    assert resp.status_code == 422 and problem(resp)["errors"][0]["loc"] == ["path", "message_id"]
    assert pw.api_requests() == []


def test_given_a_message_that_does_not_exist_when_read_then_it_is_404_naming_gmails_answer(pw):
    rec = pw.connect(["gmail.readonly"])

    resp = message(pw, rec, "ffffffffffff")

    assert resp.status_code == 404
    body = problem(resp)
    assert body["code"] == "not_found" and body["upstream_status"] == 404
