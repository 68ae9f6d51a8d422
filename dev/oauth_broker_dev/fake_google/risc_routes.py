"""Cross-Account Protection over HTTP: the RISC configuration and keys, the RISC management API
(v1beta, under `/risc/v1beta`, authorized by a service account's self-signed JWT), and the
`/__risc/...` controls for tests and `make dev`."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, request

from . import errors
from .app import get_fake
from .risc import API_PREFIX, TOKEN_IDENTIFIER_ALGS, RiscError

bp = Blueprint("fake_google_risc", __name__)
control_bp = Blueprint("fake_google_risc_control", __name__, url_prefix="/__risc")


def _body() -> Any:
    return request.get_json(silent=True, force=True)


def _refused(exc: RiscError) -> Response:
    return errors.api_error(exc.status, exc.message)


def _injected(endpoint: str) -> Response | None:
    """A failure injected with `fail_next("risc" | "risc_jwks")`, in Google's API error shape."""
    rule = get_fake().take_rule(endpoint)
    if rule is None:
        return None
    if rule.delay > 0:
        time.sleep(rule.delay)
    if not rule.fails:
        return None
    if rule.body is not None:
        return errors.json_response(rule.body, rule.status or 500)
    return errors.api_error(rule.status or 500, rule.error)


# ---- discovery and keys -----------------------------------------------------------------------
@bp.get("/.well-known/risc-configuration")
def configuration() -> Response:
    return errors.json_response(
        get_fake().risc.configuration(), 200, {"Cache-Control": "public, max-age=3600"}
    )


@bp.get("/risc/certs")
def certs() -> Response:
    failure = _injected("risc_jwks")
    if failure is not None:
        return failure
    return errors.json_response(get_fake().risc.jwks(), 200, {"Cache-Control": "public, max-age=300"})


# ---- the RISC management API ------------------------------------------------------------------
def _managed(handler: Any) -> Response:
    failure = _injected("risc")
    if failure is not None:
        return failure
    try:
        get_fake().risc.authorize(request.headers.get("Authorization"))
        result = handler()
    except RiscError as exc:
        return _refused(exc)
    return errors.json_response(result)


@bp.post(f"{API_PREFIX}/stream:update")
def stream_update() -> Response:
    def handler() -> dict[str, Any]:
        get_fake().risc.update_stream(_body())
        return {}

    return _managed(handler)


@bp.get(f"{API_PREFIX}/stream")
def stream_get() -> Response:
    return _managed(lambda: get_fake().risc.stream_config())


@bp.get(f"{API_PREFIX}/stream/status")
def stream_status() -> Response:
    def handler() -> dict[str, Any]:
        stream = get_fake().risc.stream
        if stream is None:
            raise RiscError(404, "Project has no RISC configuration.")
        return {"status": stream.status}

    return _managed(handler)


@bp.post(f"{API_PREFIX}/stream/status:update")
def stream_status_update() -> Response:
    def handler() -> dict[str, Any]:
        body = _body()
        return {"status": get_fake().risc.set_status(body.get("status") if isinstance(body, dict) else None)}

    return _managed(handler)


@bp.post(f"{API_PREFIX}/stream:verify")
def stream_verify() -> Response:
    def handler() -> dict[str, Any]:
        body = _body()
        state = body.get("state", "") if isinstance(body, dict) else ""
        get_fake().risc.verify(str(state))
        return {}  # Google answers 200 with an empty body; the token goes to the receiver

    return _managed(handler)


# ---- controls ---------------------------------------------------------------------------------
def _bad(status: int, message: str) -> Response:
    return errors.json_response(
        {"error": "bad_request" if status == 400 else "conflict", "message": message}, status
    )


@control_bp.post("/send")
def send() -> Response:
    """{event_type, sub | token, reason?, client_id?, token_identifier_alg?, state?} -> one token
    signed and pushed to the stream's receiver: {status (the receiver's), jti, aud, event_type,
    receiver_body, error}."""
    body = _body()
    if not isinstance(body, dict) or not body.get("event_type"):
        return _bad(400, "send {event_type, sub | token, reason?, client_id?}")
    alg = str(body.get("token_identifier_alg") or "prefix")
    if alg not in TOKEN_IDENTIFIER_ALGS:
        return _bad(400, f"token_identifier_alg must be one of {list(TOKEN_IDENTIFIER_ALGS)}")
    try:
        delivery = get_fake().risc.send(
            str(body["event_type"]),
            sub=str(body["sub"]) if body.get("sub") else None,
            token=str(body["token"]) if body.get("token") else None,
            client_id=str(body["client_id"]) if body.get("client_id") else None,
            reason=str(body["reason"]) if body.get("reason") else None,
            state=str(body["state"]) if body.get("state") else None,
            token_identifier_alg=alg,
        )
    except RiscError as exc:
        return _bad(exc.status, exc.message)
    return errors.json_response(
        {
            "status": delivery.status,
            "jti": delivery.jti,
            "aud": delivery.aud,
            "event_type": delivery.event_type,
            "receiver_body": delivery.body,
            "error": delivery.error,
        }
    )


@control_bp.get("/deliveries")
def deliveries() -> Response:
    return errors.json_response({"deliveries": [d.to_json() for d in get_fake().risc.deliveries]})


@control_bp.get("/stream")
def stream() -> Response:
    """The stream as configured (no authorization: a control), or null."""
    current = get_fake().risc.stream
    return errors.json_response({"stream": None if current is None else vars(current)})


@control_bp.get("/service-account.json")
def service_account() -> Response:
    """The key file of the fake project's RISC Configuration Admin service account, for
    `oauth-broker google risc-register --service-account` against this fake."""
    return errors.json_response(get_fake().risc.service_account_key_file())


@control_bp.post("/rotate_key")
def rotate_key() -> Response:
    return errors.json_response({"kid": get_fake().risc.rotate_key()})
