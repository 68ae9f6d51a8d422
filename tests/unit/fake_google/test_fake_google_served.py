"""The fake served on a loopback port: base URL, concurrency gauge under parallel requests, stop."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from oauth_broker_dev.fake_google import FakeGoogle, FakeGoogleServer
from oauth_broker_dev.fake_google.scopes import GMAIL_MODIFY, GMAIL_READONLY

ALICE = "alice@example.com"
PROFILE = "/gmail/v1/users/me/profile"


@pytest.fixture
def served(fake: FakeGoogle) -> Iterator[FakeGoogleServer]:
    server = fake.serve(host="127.0.0.1", port=0)
    try:
        yield server
    finally:
        server.stop()


def test_given_a_served_fake_when_reading_discovery_then_urls_use_the_bound_address(
    fake: FakeGoogle, served: FakeGoogleServer
) -> None:
    base_url = served.base_url

    discovery = httpx.get(base_url + "/.well-known/openid-configuration").json()

    assert base_url.startswith("http://127.0.0.1:")
    assert discovery["issuer"] == base_url
    assert discovery["token_endpoint"] == base_url + "/token"


def test_given_an_api_delay_when_five_requests_run_in_parallel_then_the_peak_concurrency_is_five(
    fake: FakeGoogle, served: FakeGoogleServer
) -> None:
    token = fake.issue_tokens(ALICE, [GMAIL_READONLY])["access_token"]
    fake.set_api_delay(2.0)  # long enough that all five overlap even on a loaded machine
    url = served.base_url + PROFILE

    def call(_: int) -> int:
        return httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = list(pool.map(call, range(5)))

    assert statuses == [200] * 5
    assert fake.peak_concurrency(ALICE) == 5
    assert fake.peak_concurrency(token=token) == 5
    assert fake.in_flight(ALICE) == 0


def test_given_sequential_requests_when_measuring_then_the_peak_concurrency_is_one(
    fake: FakeGoogle, served: FakeGoogleServer
) -> None:
    token = fake.issue_tokens(ALICE, [GMAIL_READONLY])["access_token"]
    url = served.base_url + PROFILE

    for _ in range(3):
        httpx.get(url, headers={"Authorization": f"Bearer {token}"})

    assert fake.peak_concurrency(ALICE) == 1


def test_given_a_stopped_server_when_connecting_then_the_connection_is_refused(fake: FakeGoogle) -> None:
    server = fake.serve()
    base_url = server.base_url

    server.stop()

    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url + "/jwks", timeout=2)
    assert fake.base_url == "http://fake-google.test"


def test_given_google_api_python_client_when_sending_by_media_upload_then_the_fake_stores_the_message(
    fake: FakeGoogle, served: FakeGoogleServer
) -> None:
    googleapiclient = pytest.importorskip("googleapiclient")
    google_auth_httplib2 = pytest.importorskip("google_auth_httplib2")
    import httplib2
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build_from_document
    from googleapiclient.http import MediaInMemoryUpload

    document = json.loads(
        (Path(googleapiclient.__file__).parent / "discovery_cache/documents/gmail.v1.json").read_text()
    )
    document["rootUrl"] = document["baseUrl"] = served.base_url + "/"
    token = fake.issue_tokens(ALICE, [GMAIL_MODIFY])["access_token"]
    http = google_auth_httplib2.AuthorizedHttp(Credentials(token), http=httplib2.Http())
    gmail = build_from_document(document, http=http)
    msg = EmailMessage()
    msg["To"] = "bob@example.com"
    msg["Subject"] = "Sent by googleapiclient"
    msg.set_content("hello")

    media = (
        gmail.users()
        .messages()
        .send(userId="me", media_body=MediaInMemoryUpload(msg.as_bytes(), mimetype="message/rfc822"))
        .execute()
    )
    as_json = (
        gmail.users()
        .messages()
        .send(userId="me", body={"raw": base64.urlsafe_b64encode(msg.as_bytes()).decode()})
        .execute()
    )

    assert media["labelIds"] == as_json["labelIds"] == ["SENT"]
    assert [str(m["Subject"]) for m in fake.sent_messages(ALICE)][-2:] == ["Sent by googleapiclient"] * 2
    upload = [r for r in fake.requests_to("gmail") if r.path.startswith("/upload/")]
    assert upload[0].query["uploadType"] == ["media"]
