"""After a full connect flow (callback and confirmation), no secret is anywhere it must not be: not
in any DynamoDB attribute, event, log line or page, in plaintext, base64 or base64url. The
confirmation goes to the app's `return_to` only: in the popup page's message, nowhere else."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from brokertest.connect import (
    RETURN_TO,
    b64_forms,
    callback,
    confirm,
    confirmation_of,
    create_session,
    provider_redirect,
    table_dump,
)
from brokertest.google import CLIENT_SECRET, GOOGLE_BASE
from oauth_broker.crypto.token_identifiers import google_hash_identifier
from oauth_broker.observability import logger
from oauth_broker.store.audit import AuditFilter, AuditStore


class Recorder(httpx.BaseTransport):
    """In front of the fake Google: keeps every token request form and token response body."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner
        self.forms: list[dict[str, str]] = []
        self.bodies: list[dict[str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            request.read()
            self.forms.append(dict(parse_qsl(request.content.decode())))
        response = self.inner.handle_request(request)
        if request.url.path == "/token":
            response.read()
            self.bodies.append(json.loads(response.content))
        return response


class LogCapture(logging.Handler):
    """Every log line the broker writes, formatted exactly as Powertools writes it to CloudWatch."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logger.registered_formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_given_a_completed_flow_when_table_events_logs_and_pages_are_searched_then_no_secret_is_found(cw):
    logs = LogCapture()
    logger.addHandler(logs)
    try:
        found = _secrets_found_after_a_flow(cw, logs)
    finally:
        logger._logger.removeHandler(logs)
    assert found == []


def _secrets_found_after_a_flow(cw, logs: LogCapture) -> list[tuple[str, str]]:
    recorder = Recorder(httpx.WSGITransport(app=cw.fake.app))
    cw.world.transport.mount(GOOGLE_BASE, recorder)

    session = create_session(cw.world, cw.ocl, scopes=["gmail.readonly", "gmail.send"], return_to=RETURN_TO)
    google_url = provider_redirect(cw.world, session["authorize_url"])
    back = cw.fake.complete_consent(google_url)
    page = callback(cw.world, back)
    assert page.status_code == 200
    confirmation = confirmation_of(page)
    assert confirmation is not None
    confirmed = confirm(cw.world, confirmation)
    assert confirmed.status_code == 200

    (form,) = recorder.forms
    (tokens,) = recorder.bodies
    redirect = dict(parse_qsl(urlsplit(back).query))
    secrets = {
        "refresh token": tokens["refresh_token"],
        # Google's token-revoked identifiers: the index keeps a SHA-256 of each, never these
        "refresh token prefix": tokens["refresh_token"][:16],
        "refresh token hash identifier": google_hash_identifier(tokens["refresh_token"]),
        "access token": tokens["access_token"],
        "id token": tokens["id_token"],
        "client secret": CLIENT_SECRET,
        "authorization code": redirect["code"],
        "confirmation": confirmation,
        "state": redirect["state"],
        "PKCE verifier": form["code_verifier"],
        "connect session token": session["token"],
    }
    assert (
        form["client_secret"] == CLIENT_SECRET and form["code"] == redirect["code"]
    )  # the recorder saw them

    places = {
        "DynamoDB": table_dump(cw.world),
        "events": json.dumps(cw.events),
        "logs": "\n".join(logs.lines),
        "result page": page.get_data(as_text=True) + json.dumps(dict(page.headers)),
        "confirm response": confirmed.get_data(as_text=True) + json.dumps(dict(confirmed.headers)),
    }
    assert "result held for confirmation" in places["logs"]  # the logs were captured
    # the scan covers the audit trail: the client's creation and the confirmation are recorded
    audit_trail, _ = AuditStore(cw.world.services.table).list("acme", AuditFilter())
    assert {"oauth_client.created", "connection.confirmed"} <= {r["action"] for r in audit_trail}
    assert '"AUDIT#acme"' in places["DynamoDB"]
    assert '"TOKID#' in places["DynamoDB"]  # the scan covers the token-identifier lookup items
    places["audit trail"] = json.dumps(audit_trail)
    assert "connect result confirmed" in places["logs"]
    return [
        (name, where)
        for name, value in secrets.items()
        for where, text in places.items()
        if any(form_ in text for form_ in b64_forms(value))
        and (name, where) != ("confirmation", "result page")  # its one channel: the posted message
    ]
