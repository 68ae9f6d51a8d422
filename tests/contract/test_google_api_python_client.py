"""The official google-api-python-client talks to Gmail through the broker unchanged: the broker's
proxy URL as its endpoint, the caller's broker token as its credentials. Google (the fake) sees the
very path, query and body the library sent, with the connection's Google token instead."""

from __future__ import annotations

import base64
import json
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import google_auth_httplib2
import googleapiclient
import httplib2
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build, build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaInMemoryUpload

from oauth_broker_dev import devidp

ALICE = "alice@example.com"
GMAIL_DOCUMENT = Path(googleapiclient.__file__).parent / "discovery_cache/documents/gmail.v1.json"


class RecordingHttp(httplib2.Http):
    """httplib2 that remembers what the client library sent: (method, uri, body, headers)."""

    def __init__(self, broker_token: str) -> None:
        super().__init__(timeout=30)
        self.broker_token = broker_token
        self.sent: list[tuple[str, str, bytes, dict[str, str]]] = []

    def request(self, uri, method="GET", body=None, headers=None, *args, **kwargs):
        data = body.encode() if isinstance(body, str) else (body or b"")
        self.sent.append((method, uri, data, {k.lower(): v for k, v in (headers or {}).items()}))
        return super().request(uri, method, body, headers, *args, **kwargs)


def gmail_client(contract, rec, *, for_uploads: bool = False):
    """Gmail through the broker. Uploads need the discovery document's rootUrl pointed at the proxy
    too: the library builds upload URLs from rootUrl, not from api_endpoint."""
    recorder = RecordingHttp(devidp.mint("acme", "alice"))  # the caller's broker token, as the credentials
    http = google_auth_httplib2.AuthorizedHttp(Credentials(token=recorder.broker_token), http=recorder)
    base = contract.proxy_base(rec)
    if for_uploads:
        document = json.loads(GMAIL_DOCUMENT.read_text())
        document["rootUrl"] = document["baseUrl"] = base
        return build_from_document(document, http=http), recorder
    service = build("gmail", "v1", http=http, client_options={"api_endpoint": base}, static_discovery=True)
    return service, recorder


def assert_fake_saw_what_the_library_sent(contract, rec, recorder, google_token, *, count: int = 1):
    api = [r for r in contract.fake.requests if r.endpoint == "gmail"][-count:]
    assert len(api) == count and len(recorder.sent) == count
    prefix = urlsplit(contract.proxy_base(rec)).path.rstrip("/")
    for (method, uri, body, headers), seen in zip(recorder.sent, api, strict=True):
        sent_url = urlsplit(uri)
        assert seen.method == method
        assert seen.path == sent_url.path.removeprefix(prefix)
        assert seen.query == parse_qs(sent_url.query, keep_blank_values=True)
        assert seen.body == body
        assert headers["authorization"] == f"Bearer {recorder.broker_token}"
        assert seen.headers["Authorization"] == f"Bearer {google_token}"


def test_given_the_official_client_when_it_lists_messages_then_google_sees_its_exact_request(
    contract,
):
    rec, google_token = contract.connect(["gmail.readonly"])
    gmail, recorder = gmail_client(contract, rec)

    listed = gmail.users().messages().list(userId="me", maxResults=3, q="in:inbox").execute()

    expected = contract.fake.mailbox(ALICE).search("in:inbox")[:3]
    assert [m["id"] for m in listed["messages"]] == [m.id for m in expected]
    assert_fake_saw_what_the_library_sent(contract, rec, recorder, google_token)


def test_given_the_official_client_when_it_sends_a_message_as_json_then_google_gets_the_same_body(contract):
    rec, google_token = contract.connect(["gmail.send"])
    gmail, recorder = gmail_client(contract, rec)
    message = EmailMessage()
    message["To"] = "bob@example.com"
    message["Subject"] = "Sent by googleapiclient through the broker"
    message.set_content("hello from the contract test")
    raw = base64.urlsafe_b64encode(message.as_bytes()).decode()

    sent = gmail.users().messages().send(userId="me", body={"raw": raw}).execute()

    assert sent["labelIds"] == ["SENT"]
    assert (
        str(contract.fake.sent_messages(ALICE)[-1]["Subject"]) == "Sent by googleapiclient through the broker"
    )
    assert_fake_saw_what_the_library_sent(contract, rec, recorder, google_token)


def test_given_the_official_client_when_it_uploads_a_raw_message_then_google_gets_the_same_bytes(contract):
    rec, google_token = contract.connect(["gmail.send"])
    gmail, recorder = gmail_client(contract, rec, for_uploads=True)
    message = EmailMessage()
    message["To"] = "bob@example.com"
    message["Subject"] = "Uploaded through the broker"
    message.set_content("caf\u00e9 \u2603", cte="8bit")

    sent = (
        gmail.users()
        .messages()
        .send(userId="me", media_body=MediaInMemoryUpload(message.as_bytes(), mimetype="message/rfc822"))
        .execute()
    )

    assert sent["labelIds"] == ["SENT"]
    seen = [r for r in contract.fake.requests if r.endpoint == "gmail"][-1]
    assert seen.path == "/upload/gmail/v1/users/me/messages/send" and seen.query["uploadType"] == ["media"]
    assert_fake_saw_what_the_library_sent(contract, rec, recorder, google_token)


def test_given_a_method_the_connection_may_not_call_when_the_client_calls_it_then_it_raises_the_brokers_403(
    contract,
):
    rec, _ = contract.connect(["gmail.readonly"])
    gmail, _ = gmail_client(contract, rec)

    with pytest.raises(HttpError) as caught:
        gmail.users().messages().trash(userId="me", id="abc").execute()

    assert caught.value.resp.status == 403
    problem = json.loads(caught.value.content)
    assert problem["code"] == "scope_not_granted" and problem["method"] == "gmail.users.messages.trash"
    assert [r for r in contract.fake.requests if r.endpoint == "gmail"] == []
