"""OAuth 2.0 / OIDC endpoints: consent page, token, revocation, JWKS, discovery, userinfo."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any
from urllib.parse import unquote_plus

from flask import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from . import errors
from . import scopes as sc
from .app import get_fake
from .consent_page import consent_page, error_page
from .controls import FailRule, Revocation
from .fake import ErrorPage, PendingAuthorization, Redirect

bp = Blueprint("fake_google_oauth", __name__)

AUTH_PATH = "/o/oauth2/v2/auth"


def _retry_after(rule: FailRule) -> dict[str, str]:
    if rule.retry_after is None:
        return {}
    value = rule.retry_after
    return {"Retry-After": str(int(value)) if float(value).is_integer() else str(value)}


def oauth_failure(rule: FailRule) -> Response:
    """The response of an injected failure on the token or revocation endpoint."""
    headers = _retry_after(rule)
    if rule.body is not None:
        return errors.json_response(rule.body, rule.status or 500, headers)
    if rule.error is not None:
        return errors.oauth_error(rule.error, None, rule.status, headers)
    status = rule.status or 500
    if status == 429:
        return errors.oauth_error("rate_limit_exceeded", "Rate Limit Exceeded", status, headers)
    if status >= 500:
        return errors.oauth_error("internal_failure", "Backend Error", status, headers)
    return errors.oauth_error("invalid_request", None, status, headers)


def _apply_rule(endpoint: str) -> tuple[FailRule | None, Response | None]:
    rule = get_fake().take_rule(endpoint)
    if rule is None:
        return None, None
    if rule.delay > 0:
        time.sleep(rule.delay)
    return rule, (oauth_failure(rule) if rule.fails else None)


# ---- authorization ----------------------------------------------------------------------------
@bp.get(AUTH_PATH)
def authorize() -> BaseResponse:
    fake = get_fake()
    outcome = fake.begin_authorization(request.args.to_dict(flat=True))
    if isinstance(outcome, ErrorPage):
        return error_page(outcome.status, outcome.error, outcome.description)
    if isinstance(outcome, Redirect):
        return redirect(outcome.location, 302)
    assert isinstance(outcome, PendingAuthorization)
    hinted = fake._account_or_none(outcome.login_hint)
    selected = hinted.email if hinted else fake.accounts[0].email
    return consent_page(
        outcome.id,
        outcome.client_id,
        request.script_root + AUTH_PATH,
        fake.accounts,
        selected,
        outcome.scopes,
    )


@bp.post(AUTH_PATH)
def consent() -> BaseResponse:
    fake = get_fake()
    form = request.form
    allow = form.get("action", "allow") == "allow"
    result = fake.finish_authorization(
        form.get("request_id", ""), form.get("account"), form.getlist("scope"), allow
    )
    if isinstance(result, ErrorPage):
        return error_page(result.status, result.error, result.description)
    return redirect(result.location, 302)


# ---- token ------------------------------------------------------------------------------------
def _params() -> dict[str, str]:
    if request.is_json:
        data = request.get_json(silent=True) or {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return request.form.to_dict(flat=True)


def _basic_auth() -> tuple[str, str] | Response | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return errors.oauth_error("invalid_client", "Malformed Basic authorization header.", 401)
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return errors.oauth_error("invalid_client", "Malformed Basic authorization header.", 401)
    return unquote_plus(client_id), unquote_plus(secret)


@bp.post("/token")
def token() -> Response:
    fake = get_fake()
    params = _params()
    fake.count_token_request(params.get("grant_type", ""))
    _, failure = _apply_rule("token")
    if failure is not None:
        return failure
    basic = _basic_auth()
    if isinstance(basic, Response):
        return basic
    status, body = fake.token_endpoint(params, basic)
    return errors.json_response(body, status, {"Cache-Control": "no-store", "Pragma": "no-cache"})


# ---- revocation -------------------------------------------------------------------------------
@bp.route("/revoke", methods=["POST", "GET"])
def revoke() -> Response:
    fake = get_fake()
    token_value = request.values.get("token", "")
    hint = request.values.get("token_type_hint") or None
    rule, failure = _apply_rule("revoke")
    if failure is not None and rule is not None:
        fake.record_revocation(Revocation(token_value, hint, "injected_failure", timestamp=fake.now()))
        return failure
    if not token_value:
        fake.record_revocation(Revocation(token_value, hint, "invalid_request", timestamp=fake.now()))
        return errors.oauth_error("invalid_request", "Missing required parameter: token")
    status, body = fake.revoke_token(token_value, hint)
    return errors.json_response(body if body is not None else {}, status)


# ---- keys and discovery -----------------------------------------------------------------------
@bp.get("/jwks")
@bp.get("/oauth2/v3/certs")
def jwks() -> Response:
    fake = get_fake()
    _, failure = _apply_rule("jwks")
    if failure is not None:
        return failure
    return errors.json_response(fake.keys.jwks(), 200, {"Cache-Control": "public, max-age=300"})


@bp.get("/.well-known/openid-configuration")
def discovery() -> Response:
    fake = get_fake()
    body: dict[str, Any] = {
        "issuer": fake.issuer,
        "authorization_endpoint": fake.url(AUTH_PATH),
        "token_endpoint": fake.url("/token"),
        "userinfo_endpoint": fake.url("/v1/userinfo"),
        "revocation_endpoint": fake.url("/revoke"),
        "jwks_uri": fake.url("/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": [
            "aud",
            "email",
            "email_verified",
            "exp",
            "family_name",
            "given_name",
            "hd",
            "iat",
            "iss",
            "name",
            "nonce",
            "picture",
            "sub",
        ],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "authorization_response_iss_parameter_supported": True,
    }
    return errors.json_response(body, 200, {"Cache-Control": "public, max-age=3600"})


# ---- userinfo and tokeninfo -------------------------------------------------------------------
@bp.route("/v1/userinfo", methods=["GET", "POST"])
@bp.route("/oauth2/v3/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    from .api_routes import api_call

    def handler(ctx: Any) -> Response:
        granted = set(sc.normalized(ctx.token.scopes))
        account = ctx.account
        body: dict[str, Any] = {"sub": account.sub}
        if sc.USERINFO_PROFILE in granted:
            body.update(
                name=account.name,
                given_name=account.given_name,
                family_name=account.family_name,
                picture=account.picture,
            )
        if sc.USERINFO_EMAIL in granted:
            body.update(email=account.email, email_verified=True)
        if account.hd:
            body["hd"] = account.hd
        return errors.json_response(body)

    return api_call("userinfo", "userinfo", "openidconnect.googleapis.com", handler, oauth_errors=True)


@bp.route("/tokeninfo", methods=["GET", "POST"])
def tokeninfo() -> Response:
    fake = get_fake()
    value = request.values.get("access_token", "")
    token = fake.authenticate(f"Bearer {value}") if value else "missing"
    if isinstance(token, str):
        return errors.oauth_error("invalid_token", "Invalid Value")
    account = fake.account(token.sub)
    granted = set(token.scopes)
    body: dict[str, Any] = {
        "azp": token.client_id,
        "aud": token.client_id,
        "sub": account.sub,
        "scope": " ".join(token.scopes),
        "exp": str(int(token.expires_at)),
        "expires_in": str(max(0, int(token.expires_at - fake.now()))),
    }
    if sc.USERINFO_EMAIL in granted:
        body.update(email=account.email, email_verified="true")
    grant = fake._grants.get(token.grant_id)
    body["access_type"] = "offline" if grant is not None and grant.refresh_token else "online"
    return errors.json_response(body)
