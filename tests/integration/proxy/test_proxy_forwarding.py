"""What goes to the provider and what comes back: header hygiene, the connection's token, bodies
(binary included) byte for byte, content headers, and Lambda's 6 MB response cap."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
from collections.abc import Iterator

import pytest
from werkzeug.wrappers import Request, Response

from brokertest.proxy import ALICE, ProxyWorld, build_proxy_world, problem
from oauth_broker.crypto.envelope import EncryptionContext
from oauth_broker.proxy.payload import MAX_RESPONSE_BODY_BYTES
from oauth_broker.services import configure

FILES_BASE = "https://files.test"
BLOB = hashlib.sha256(b"seed").digest() * 4000 + bytes(range(256))  # ~128 KB, every byte value


def files_api(environ, start_response):
    """A tiny third-party API: binary, gzip, huge and echo endpoints."""
    req = Request(environ)
    path = req.path.removeprefix("/api/v1/")
    if path == "blob":
        resp = Response(
            BLOB,
            content_type="image/png",
            headers={
                "ETag": '"blob-1"',
                "Content-Disposition": 'attachment; filename="blob.png"',
                "Cache-Control": "private, max-age=60",
                "Set-Cookie": "upstream=secret",
                "X-Internal-Debug": "1",
            },
        )
    elif path == "gzip":
        resp = Response(
            gzip.compress(json.dumps({"hello": "wörld"}).encode()),
            content_type="application/json",
            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
        )
    elif path == "login":
        resp = Response("{}", content_type="application/json")
        resp.set_cookie("session", "alice-provider-session", domain="files.test", path="/")
    elif path == "huge":
        resp = Response(b"x" * (MAX_RESPONSE_BODY_BYTES + 1024), content_type="text/plain")
    elif path == "echo":
        resp = Response(
            json.dumps(
                {
                    "method": req.method,
                    "headers": {k.lower(): v for k, v in req.headers.items()},
                    "body_b64": base64.b64encode(req.get_data()).decode(),
                    "query": req.query_string.decode(),
                }
            ),
            content_type="application/json",
        )
    else:
        resp = Response("not found", status=404)
    return resp(environ, start_response)


FILES_PROVIDER = {
    "files-api": {
        "display_name": "Files API (test)",
        "extends": "google",
        "api": {"base_url": f"{FILES_BASE}/api/", "path_prefixes": ["v1/"]},
    }
}


@pytest.fixture
def fw(aws, tmp_path) -> Iterator[ProxyWorld]:
    world = build_proxy_world(
        aws, tmp_path, extra_providers=FILES_PROVIDER, upstreams={FILES_BASE: files_api}
    )
    try:
        yield world
    finally:
        configure(None)


def google_token(pw: ProxyWorld, rec) -> str:
    ctx = EncryptionContext(rec.tenant, rec.id, "access_token")
    return pw.services.envelope.decrypt(rec.enc_access_token, ctx).decode()


def test_given_caller_headers_when_proxied_then_google_gets_the_connections_token_and_no_caller_secrets(pw):
    rec = pw.connect(["gmail.readonly"])

    resp = pw.proxy(
        rec,
        "gmail/v1/users/me/profile",
        headers={
            "Cookie": "session=caller-cookie",
            "X-Forwarded-For": "203.0.113.9",
            "Connection": "X-Hop",
            "X-Hop": "drop me",
            "X-HTTP-Method-Override": "DELETE",
            "X-Request-Id": "req-42",
        },
    )

    assert resp.status_code == 200
    (seen,) = pw.api_requests()
    headers = {k.lower(): v for k, v in seen.headers.items()}
    assert headers["authorization"] == f"Bearer {google_token(pw, rec)}"
    assert pw.token() not in json.dumps(headers)
    for dropped in ("cookie", "x-forwarded-for", "x-hop", "x-http-method-override", "x-amzn-trace-id"):
        assert dropped not in headers
    assert headers["x-request-id"] == "req-42"


def test_given_a_json_body_when_posted_through_the_proxy_then_google_receives_it_byte_for_byte(pw):
    rec = pw.connect(["gmail.send"])
    raw = base64.urlsafe_b64encode(b"To: bob@example.com\r\nSubject: via proxy\r\n\r\nhello\r\n").decode()
    body = json.dumps({"raw": raw}, separators=(",", ":")).encode()

    resp = pw.proxy(
        rec,
        "gmail/v1/users/me/messages/send",
        method="POST",
        data=body,
        headers={"Content-Type": "application/json"},
    )

    assert resp.status_code == 200
    assert pw.api_requests()[-1].body == body
    assert str(pw.fake.sent_messages(ALICE)[-1]["Subject"]) == "via proxy"


def test_given_a_binary_upload_when_proxied_then_it_arrives_byte_for_byte(pw):
    rec = pw.connect(["gmail.send"])
    message = (
        b"To: bob@example.com\r\nSubject: 8bit\r\nContent-Type: text/plain; charset=latin-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xe9 \xff\xfe\r\n"
    )

    resp = pw.proxy(
        rec,
        "upload/gmail/v1/users/me/messages/send?uploadType=media",
        method="POST",
        data=message,
        headers={"Content-Type": "message/rfc822"},
    )

    assert resp.status_code == 200, resp.get_data()[:300]
    seen = pw.api_requests()[-1]
    assert seen.path == "/upload/gmail/v1/users/me/messages/send" and seen.body == message


def test_given_a_binary_response_when_proxied_then_it_comes_back_byte_for_byte_with_its_content_headers(fw):
    rec = fw.connect(["email"], provider="files-api")

    resp = fw.proxy(rec, "v1/blob")

    assert resp.status_code == 200
    assert resp.get_data() == BLOB
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.headers["ETag"] == '"blob-1"'
    assert resp.headers["Content-Disposition"] == 'attachment; filename="blob.png"'
    assert resp.headers["Cache-Control"] == "private, max-age=60"
    assert "Set-Cookie" not in resp.headers and "X-Internal-Debug" not in resp.headers


def test_given_a_gzip_response_when_proxied_then_the_encoded_bytes_and_content_encoding_pass_through(fw):
    rec = fw.connect(["email"], provider="files-api")

    resp = fw.proxy(rec, "v1/gzip", headers={"Accept-Encoding": "gzip"})

    assert resp.status_code == 200 and resp.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(resp.get_data())) == {"hello": "wörld"}


def test_given_no_accept_encoding_when_proxied_then_the_provider_is_asked_for_identity(fw):
    rec = fw.connect(["email"], provider="files-api")

    echoed = fw.proxy(rec, "v1/echo?a=1&b=%2F").get_json()

    assert echoed["headers"]["accept-encoding"] == "identity"
    assert echoed["query"] == "a=1&b=%2F"


def test_given_a_binary_request_body_when_proxied_to_any_provider_then_it_arrives_unchanged(fw):
    rec = fw.connect(["email"], provider="files-api")
    data = os.urandom(50_000)

    echoed = fw.proxy(
        rec, "v1/echo", method="PUT", data=data, headers={"Content-Type": "application/octet-stream"}
    ).get_json()

    assert echoed["method"] == "PUT"
    assert base64.b64decode(echoed["body_b64"]) == data
    assert echoed["headers"]["content-type"] == "application/octet-stream"


def test_given_a_response_larger_than_a_lambda_response_when_proxied_then_it_is_502_response_too_large(fw):
    rec = fw.connect(["email"], provider="files-api")

    resp = fw.proxy(rec, "v1/huge")

    assert resp.status_code == 502
    assert problem(resp)["code"] == "response_too_large"


def test_given_a_provider_without_a_scope_table_when_a_path_under_its_prefixes_is_called_then_it_is_forwarded(
    fw,
):
    rec = fw.connect(["email"], provider="files-api")

    assert fw.proxy(rec, "v1/anything/else").status_code == 404  # the provider's own 404, passed through
    assert problem(fw.proxy(rec, "v2/blob"))["code"] == "invalid_path"


def test_given_a_provider_cookie_set_for_one_user_when_another_user_calls_it_then_no_cookie_is_replayed(
    fw,
):
    alice = fw.connect(["email"], provider="files-api", owner="alice")
    bob = fw.connect(["email"], provider="files-api", owner="bob", email="bob@example.com")

    login = fw.proxy(alice, "v1/login", user="alice")
    echoed = fw.proxy(bob, "v1/echo", user="bob").get_json()

    assert login.status_code == 200 and "Set-Cookie" not in login.headers
    assert "cookie" not in echoed["headers"]
    assert len(fw.services.http.cookies) == 0
