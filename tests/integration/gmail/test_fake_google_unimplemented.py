"""A Gmail method the fake Google does not implement, called through the broker's proxy: the fake's
JSON 501 comes back unchanged and at once (501 is not retried), so the caller sees that the fake,
not the broker, lacks it."""

from __future__ import annotations


def test_given_a_method_the_fake_lacks_when_proxied_then_its_501_comes_back_unchanged_after_one_call(pw):
    rec = pw.connect(["mail.google.com"])

    resp = pw.proxy(rec, "gmail/v1/users/me/labels", method="POST", json_body={"name": "Receipts"})

    assert resp.status_code == 501, resp.get_data(as_text=True)[:300]
    assert resp.headers["Content-Type"].startswith("application/json")
    error = resp.get_json()["error"]
    assert error["status"] == "UNIMPLEMENTED"
    assert error["message"] == "not implemented by the fake Google: POST /gmail/v1/users/me/labels"
    assert [(r.method, r.path) for r in pw.api_requests()] == [("POST", "/gmail/v1/users/me/labels")]
