"""The fake's Gmail subset: list, get (every format), attachments, send (JSON and upload), labels,
send-as, modify/trash/delete, and the scope and credential checks in front of them."""

from __future__ import annotations

import base64
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage

import httpx

from oauth_broker_dev.fake_google import FakeGoogle
from oauth_broker_dev.fake_google.scopes import GMAIL_METADATA, GMAIL_MODIFY, GMAIL_READONLY, GMAIL_SEND, MAIL

ALICE = "alice@example.com"
BOB = "bob@example.com"
Bearer = Callable[..., dict[str, str]]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def ids(client: httpx.Client, headers: dict[str, str], **params: object) -> list[str]:
    body = client.get("/gmail/v1/users/me/messages", headers=headers, params=params).json()
    return [m["id"] for m in body.get("messages", [])]


def subject_of(client: httpx.Client, headers: dict[str, str], message_id: str) -> str:
    message = client.get(
        f"/gmail/v1/users/me/messages/{message_id}",
        headers=headers,
        params={"format": "metadata", "metadataHeaders": "Subject"},
    ).json()
    return str(message["payload"]["headers"][0]["value"])


def find(client: httpx.Client, headers: dict[str, str], q: str) -> dict[str, object]:
    message_id = ids(client, headers, q=q)[0]
    return dict(client.get(f"/gmail/v1/users/me/messages/{message_id}", headers=headers).json())


def test_given_a_raw_mime_message_when_sent_and_read_back_then_headers_and_body_round_trip(
    fake: FakeGoogle, client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer(ALICE, (GMAIL_SEND, GMAIL_READONLY))
    msg = EmailMessage()
    msg["To"] = "carol@example.org"
    msg["From"] = ALICE
    msg["Subject"] = "Grüße aus Köln"
    msg.set_content("Hallo Carol,\nbis bald!\n")

    sent = client.post(
        "/gmail/v1/users/me/messages/send", headers=headers, json={"raw": b64url(msg.as_bytes())}
    )
    read = client.get(f"/gmail/v1/users/me/messages/{sent.json()['id']}", headers=headers)
    raw = client.get(
        f"/gmail/v1/users/me/messages/{sent.json()['id']}", headers=headers, params={"format": "raw"}
    )

    assert sent.status_code == 200
    assert sent.json()["labelIds"] == ["SENT"]
    assert sent.json()["threadId"] == sent.json()["id"]
    payload = read.json()["payload"]
    header_map = {h["name"]: h["value"] for h in payload["headers"]}
    assert header_map["Subject"] == "Grüße aus Köln"
    assert header_map["To"] == "carol@example.org"
    assert "Message-ID" in header_map
    assert unb64url(payload["body"]["data"]).decode() == "Hallo Carol,\r\nbis bald!\r\n"
    round_trip = message_from_bytes(unb64url(raw.json()["raw"]), policy=policy.default)
    assert round_trip["Subject"] == "Grüße aus Köln"
    assert sent.json()["id"] in ids(client, headers, labelIds="SENT")
    assert [str(m["Subject"]) for m in fake.sent_messages(ALICE)][-1] == "Grüße aus Köln"


def test_given_a_reply_with_thread_id_when_sent_then_it_joins_the_thread(
    client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer(ALICE, (GMAIL_MODIFY,))
    original = find(client, headers, "subject:Lunch")
    reply = EmailMessage()
    reply["To"] = BOB
    reply["Subject"] = "Re: Lunch on Friday?"
    reply.set_content("Make it 12:30?")

    sent = client.post(
        "/gmail/v1/users/me/messages/send",
        headers=headers,
        json={"raw": b64url(reply.as_bytes()), "threadId": original["threadId"]},
    )

    assert sent.json()["threadId"] == original["threadId"]


def test_given_a_message_to_another_fake_account_when_sent_then_it_lands_in_their_inbox(
    client: httpx.Client, bearer: Bearer
) -> None:
    msg = EmailMessage()
    msg["To"] = BOB
    msg["Subject"] = "Ping from Alice"
    msg.set_content("ping")

    client.post(
        "/gmail/v1/users/me/messages/send",
        headers=bearer(ALICE, (GMAIL_SEND,)),
        json={"raw": b64url(msg.as_bytes())},
    )

    bob = bearer(BOB, (GMAIL_READONLY,))
    assert len(ids(client, bob, q="subject:Ping", labelIds="INBOX")) == 1


def test_given_the_media_upload_form_when_sending_then_the_message_is_stored(
    fake: FakeGoogle, client: httpx.Client, bearer: Bearer
) -> None:
    msg = EmailMessage()
    msg["To"] = "dave@example.org"
    msg["Subject"] = "Uploaded"
    msg.set_content("via /upload")

    response = client.post(
        "/upload/gmail/v1/users/me/messages/send",
        params={"uploadType": "media"},
        headers={**bearer(ALICE, (GMAIL_SEND,)), "Content-Type": "message/rfc822"},
        content=msg.as_bytes(),
    )

    assert response.status_code == 200
    assert str(fake.sent_messages(ALICE)[-1]["Subject"]) == "Uploaded"


def test_given_a_from_address_that_is_not_a_send_as_alias_when_sending_then_gmail_rewrites_it(
    fake: FakeGoogle, client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer(ALICE, (GMAIL_SEND,))
    alias, forged = EmailMessage(), EmailMessage()
    for msg, sender in ((alias, "support@example.com"), (forged, "ceo@other.example")):
        msg["From"] = sender
        msg["To"] = "x@example.org"
        msg["Subject"] = sender
        msg.set_content(".")
        client.post("/gmail/v1/users/me/messages/send", headers=headers, json={"raw": b64url(msg.as_bytes())})

    senders = [str(m["From"]) for m in fake.sent_messages(ALICE)[-2:]]
    assert senders[0] == "support@example.com"
    assert "alice@example.com" in senders[1]


def test_given_no_recipient_when_sending_then_400(client: httpx.Client, bearer: Bearer) -> None:
    msg = EmailMessage()
    msg["Subject"] = "nobody"
    msg.set_content(".")

    response = client.post(
        "/gmail/v1/users/me/messages/send",
        headers=bearer(ALICE, (GMAIL_SEND,)),
        json={"raw": b64url(msg.as_bytes())},
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Recipient address required"


def test_given_a_from_query_when_listing_then_only_that_sender_s_messages_come_back(
    client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer()

    found = ids(client, headers, q="from:billing@shop.example.com")

    assert len(found) == 1
    assert subject_of(client, headers, found[0]) == "Invoice #1042"


def test_given_a_plain_word_query_when_listing_then_subject_substrings_match(
    client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer()

    found = ids(client, headers, q="digest")

    assert [subject_of(client, headers, i) for i in found] == ["Your weekly digest"]


def test_given_repeated_label_ids_when_listing_then_messages_must_carry_all_of_them(
    client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer()

    found = client.get(
        "/gmail/v1/users/me/messages", headers=headers, params=[("labelIds", "INBOX"), ("labelIds", "UNREAD")]
    ).json()

    subjects = sorted(subject_of(client, headers, m["id"]) for m in found["messages"])
    assert subjects == ["Café ☕ réunion — ordre du jour ünïcödé", "Your weekly digest"]


def test_given_spam_when_listing_without_include_spam_trash_then_it_is_hidden(
    client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer()

    default = ids(client, headers, q="WON")
    included = ids(client, headers, q="WON", includeSpamTrash="true")

    assert default == []
    assert len(included) == 1


def test_given_max_results_when_paging_then_every_message_is_seen_once(
    client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer()
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params: dict[str, object] = {"maxResults": 2}
        if token:
            params["pageToken"] = token
        body = client.get("/gmail/v1/users/me/messages", headers=headers, params=params).json()
        seen += [m["id"] for m in body["messages"]]
        pages += 1
        token = body.get("nextPageToken")
        if not token:
            break

    assert pages == 3
    assert len(seen) == len(set(seen)) == 6 == body["resultSizeEstimate"]


def test_given_no_match_when_listing_then_messages_is_absent_like_gmail(
    client: httpx.Client, bearer: Bearer
) -> None:
    body = client.get("/gmail/v1/users/me/messages", headers=bearer(), params={"q": "zzz-nothing"}).json()

    assert body == {"resultSizeEstimate": 0}


def test_given_a_multipart_alternative_message_when_fetched_full_then_text_and_html_parts_are_there(
    client: httpx.Client, bearer: Bearer
) -> None:
    message = find(client, bearer(), "subject:digest")

    payload = message["payload"]
    assert isinstance(payload, dict)
    assert payload["mimeType"] == "multipart/alternative"
    assert payload["partId"] == ""
    parts = payload["parts"]
    assert [p["mimeType"] for p in parts] == ["text/plain", "text/html"]
    assert [p["partId"] for p in parts] == ["0", "1"]
    assert b"<b>3 new posts</b>" in unb64url(parts[1]["body"]["data"])
    assert (
        message["snippet"]
        == "This week: 3 new posts, 12 comments. Read more at https://news.example.org/digest"
    )


def test_given_a_non_ascii_subject_when_fetched_then_the_header_is_decoded(
    client: httpx.Client, bearer: Bearer
) -> None:
    message = find(client, bearer(), "from:zoe@example.net")

    headers = {h["name"]: h["value"] for h in message["payload"]["headers"]}  # type: ignore[index]
    assert headers["Subject"] == "Café ☕ réunion — ordre du jour ünïcödé"
    assert unb64url(message["payload"]["body"]["data"]).decode().startswith("Bonjour")  # type: ignore[index]


def test_given_a_pdf_attachment_when_downloaded_then_the_bytes_are_the_original_pdf(
    client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer()
    message = find(client, headers, "has:attachment")
    part = message["payload"]["parts"][1]  # type: ignore[index]

    attachment = client.get(
        f"/gmail/v1/users/me/messages/{message['id']}/attachments/{part['body']['attachmentId']}",
        headers=headers,
    ).json()

    assert part["filename"] == "invoice-1042.pdf"
    assert part["mimeType"] == "application/pdf"
    assert "data" not in part["body"]
    assert unb64url(attachment["data"]).startswith(b"%PDF-1.4")
    assert attachment["size"] == part["body"]["size"]


def test_given_metadata_format_when_fetching_then_only_the_asked_headers_and_no_body(
    client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer()
    message_id = ids(client, headers, q="subject:Invoice")[0]

    message = client.get(
        f"/gmail/v1/users/me/messages/{message_id}",
        headers=headers,
        params=[("format", "metadata"), ("metadataHeaders", "From"), ("metadataHeaders", "Subject")],
    ).json()

    assert sorted(h["name"] for h in message["payload"]["headers"]) == ["From", "Subject"]
    assert "parts" not in message["payload"] and "body" not in message["payload"]


def test_given_only_the_metadata_scope_when_fetching_full_or_searching_then_403(
    client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer(ALICE, (GMAIL_METADATA,))
    message_id = ids(client, headers)[0]

    full = client.get(f"/gmail/v1/users/me/messages/{message_id}", headers=headers)
    search = client.get("/gmail/v1/users/me/messages", headers=headers, params={"q": "from:x"})
    metadata = client.get(
        f"/gmail/v1/users/me/messages/{message_id}", headers=headers, params={"format": "metadata"}
    )

    assert full.status_code == 403
    assert search.status_code == 403
    assert metadata.status_code == 200


def test_given_a_read_only_token_when_sending_then_403_insufficient_permissions(
    client: httpx.Client, bearer: Bearer
) -> None:
    msg = EmailMessage()
    msg["To"] = BOB
    msg.set_content(".")

    response = client.post(
        "/gmail/v1/users/me/messages/send",
        headers=bearer(ALICE, (GMAIL_READONLY,)),
        json={"raw": b64url(msg.as_bytes())},
    )

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["status"] == "PERMISSION_DENIED"
    assert error["errors"][0]["reason"] == "insufficientPermissions"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_given_a_send_only_token_when_listing_then_403(client: httpx.Client, bearer: Bearer) -> None:
    response = client.get("/gmail/v1/users/me/messages", headers=bearer(ALICE, (GMAIL_SEND,)))

    assert response.status_code == 403


def test_given_an_unknown_token_when_calling_gmail_then_401_with_www_authenticate(
    client: httpx.Client,
) -> None:
    response = client.get("/gmail/v1/users/me/profile", headers={"Authorization": "Bearer ya29.not-a-token"})

    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    assert response.json()["error"]["errors"][0]["reason"] == "authError"
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="https://accounts.google.com/"')


def test_given_no_authorization_header_when_calling_gmail_then_401_required(client: httpx.Client) -> None:
    response = client.get("/gmail/v1/users/me/profile")

    assert response.status_code == 401
    assert response.json()["error"]["errors"][0]["reason"] == "required"


def test_given_another_user_s_email_as_user_id_when_calling_gmail_then_403_delegation_denied(
    client: httpx.Client, bearer: Bearer
) -> None:
    mine = client.get(f"/gmail/v1/users/{ALICE}/profile", headers=bearer())
    other = client.get(f"/gmail/v1/users/{BOB}/profile", headers=bearer())

    assert mine.status_code == 200
    assert mine.json()["emailAddress"] == ALICE
    assert other.status_code == 403
    assert other.json()["error"]["message"] == f"Delegation denied for {ALICE}"


def test_given_a_modify_token_when_changing_labels_trashing_then_labels_follow(
    client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer(ALICE, (GMAIL_MODIFY,))
    message_id = ids(client, headers, q="subject:digest")[0]

    modified = client.post(
        f"/gmail/v1/users/me/messages/{message_id}/modify",
        headers=headers,
        json={"addLabelIds": ["STARRED"], "removeLabelIds": ["UNREAD"]},
    ).json()
    trashed = client.post(f"/gmail/v1/users/me/messages/{message_id}/trash", headers=headers).json()

    assert "STARRED" in modified["labelIds"] and "UNREAD" not in modified["labelIds"]
    assert "TRASH" in trashed["labelIds"] and "INBOX" not in trashed["labelIds"]
    assert message_id not in ids(client, headers)


def test_given_delete_when_the_token_lacks_mail_google_com_then_403_and_with_it_204(
    client: httpx.Client, bearer: Bearer
) -> None:
    modify = bearer(ALICE, (GMAIL_MODIFY,))
    full = bearer(ALICE, (MAIL,))
    message_id = ids(client, modify)[0]

    refused = client.delete(f"/gmail/v1/users/me/messages/{message_id}", headers=modify)
    deleted = client.delete(f"/gmail/v1/users/me/messages/{message_id}", headers=full)
    gone = client.get(f"/gmail/v1/users/me/messages/{message_id}", headers=full)

    assert refused.status_code == 403
    assert deleted.status_code == 204
    assert gone.status_code == 404


def test_given_labels_and_send_as_when_listed_then_system_user_labels_and_aliases_appear(
    client: httpx.Client, bearer: Bearer
) -> None:
    headers = bearer()

    labels = client.get("/gmail/v1/users/me/labels", headers=headers).json()["labels"]
    send_as = client.get("/gmail/v1/users/me/settings/sendAs", headers=headers).json()["sendAs"]

    assert {"INBOX", "SENT", "TRASH", "UNREAD"} <= {label["id"] for label in labels}
    assert {"id": "Label_1", "name": "Receipts", "type": "user"}.items() <= labels[-1].items()
    assert [s["sendAsEmail"] for s in send_as] == [ALICE, "alice.liddell@example.com", "support@example.com"]
    assert send_as[0]["isPrimary"] is True


def test_given_the_profile_when_read_then_totals_match_the_mailbox(
    client: httpx.Client, bearer: Bearer
) -> None:
    profile = client.get("/gmail/v1/users/me/profile", headers=bearer()).json()

    assert profile["emailAddress"] == ALICE
    assert profile["messagesTotal"] == 7
    assert profile["threadsTotal"] == 6
    assert profile["historyId"].isdigit()
