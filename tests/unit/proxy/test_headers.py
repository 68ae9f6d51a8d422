"""Header hygiene: the caller's credentials and hop-by-hop headers stay behind; content headers return."""

from __future__ import annotations

from oauth_broker.proxy.headers import forward_headers, response_headers


def test_given_caller_credentials_when_forwarded_then_only_the_connections_token_is_sent():
    sent = forward_headers(
        {"Authorization": "Bearer broker-jwt", "Cookie": "session=1", "X-On-Behalf-Of": "bob"},
        access_token="ya29.google",
    )

    assert sent["authorization"] == "Bearer ya29.google"
    assert "cookie" not in sent and "x-on-behalf-of" not in sent


def test_given_hop_by_hop_and_gateway_headers_when_forwarded_then_they_are_dropped():
    sent = forward_headers(
        {
            "Host": "broker.example.com",
            "Connection": "keep-alive, X-Secret-Hop",
            "X-Secret-Hop": "1",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Trailer": "Expires",
            "Transfer-Encoding": "chunked",
            "Upgrade": "h2c",
            "Proxy-Authorization": "Basic x",
            "Proxy-Connection": "close",
            "X-Forwarded-For": "203.0.113.1",
            "X-Forwarded-Proto": "https",
            "Forwarded": "for=203.0.113.1",
            "Via": "1.1 gateway",
            "X-Amzn-Trace-Id": "Root=1-abc",
            "X-Amz-Date": "20250101T000000Z",
            "Content-Length": "12",
        },
        access_token="t",
    )

    assert set(sent) == {"authorization", "accept-encoding"}


def test_given_a_method_override_header_when_forwarded_then_it_is_dropped():
    sent = forward_headers(
        {"X-HTTP-Method-Override": "DELETE", "X-HTTP-Method": "DELETE", "X-Method-Override": "DELETE"},
        access_token="t",
    )

    assert not {"x-http-method-override", "x-http-method", "x-method-override"} & set(sent)


def test_given_content_headers_when_forwarded_then_they_are_kept():
    sent = forward_headers(
        {"Content-Type": "message/rfc822", "Accept": "application/json", "If-None-Match": '"e1"'},
        access_token="t",
    )

    assert sent["content-type"] == "message/rfc822"
    assert sent["accept"] == "application/json" and sent["if-none-match"] == '"e1"'


def test_given_no_accept_encoding_when_forwarded_then_identity_is_asked_for():
    assert forward_headers({}, access_token="t")["accept-encoding"] == "identity"
    assert forward_headers({"Accept-Encoding": "gzip"}, access_token="t")["accept-encoding"] == "gzip"


def test_given_a_provider_response_when_filtered_then_content_headers_return_and_others_do_not():
    headers = response_headers(
        [
            ("content-type", "application/json; charset=UTF-8"),
            ("content-encoding", "gzip"),
            ("etag", '"abc"'),
            ("cache-control", "private"),
            ("retry-after", "3"),
            ("content-disposition", "attachment"),
            ("set-cookie", "NID=1"),
            ("www-authenticate", 'Bearer realm="x"'),
            ("alt-svc", 'h3=":443"'),
            ("x-goog-upload-status", "final"),
            ("vary", "Origin"),
            ("vary", "X-Origin"),
        ]
    )

    assert headers == {
        "Content-Type": "application/json; charset=UTF-8",
        "Content-Encoding": "gzip",
        "ETag": '"abc"',
        "Cache-Control": "private",
        "Retry-After": "3",
        "Content-Disposition": "attachment",
        "Vary": "Origin, X-Origin",
    }
