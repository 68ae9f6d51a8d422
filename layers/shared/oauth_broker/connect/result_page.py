"""The pages and redirects the browser sees at the end of (or instead of) a connect flow.

Every response carries `Cache-Control: no-store`, `Referrer-Policy: no-referrer` (the callback URL
holds the code and the state: they must not leak through `Referer`), a strict
`Content-Security-Policy` (`default-src 'none'`, the one inline script and style allowed by a
per-response nonce, `frame-ancestors 'none'`), `X-Frame-Options: DENY` and
`X-Content-Type-Options: nosniff`. No page shows a token, a code, a state or a provider's error
text: only our own stable codes and sentences.

- popup mode (default): a small page that posts
  `{type: "oauth-broker:result", connection_id, status, confirmation, error, missing_scopes}` to
  `window.opener` with `targetOrigin` = the exact origin of `return_to`, then closes itself;
  without an opener it shows the result (never the confirmation) and posts nothing;
- redirect mode: 303 to `return_to` with `?connection_id=&status=pending&confirmation=` (and
  `missing_scopes=`, space separated, when some were not granted) or `?error=`.

A successful flow's status is `pending`: the app confirms it (`connect.confirmation`).
"""

from __future__ import annotations

import html
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from oauth_broker.connect.return_to import target_origin, with_result_params

RESULT_TYPE = "oauth-broker:result"

# Stable error codes of a flow's result, with the sentence the page shows.
ERROR_MESSAGES = {
    "access_denied": "Access was declined, so nothing was connected.",
    "consent_required": "The account has not granted these permissions yet. Try again and allow access.",
    "interaction_required": "The provider needs you to sign in and allow access. Try again.",
    "login_required": "The provider needs you to sign in. Try again.",
    "account_selection_required": "Choose an account at the provider. Try again.",
    "invalid_scope": "The provider refused the requested permissions.",
    "provider_error": "The provider reported an error, so nothing was connected.",
    "issuer_mismatch": "The response did not come from the expected provider, so it was refused.",
    "issuer_missing": "The response did not say which provider sent it, so it was refused.",
    "token_exchange_failed": "The provider did not complete the sign-in, so nothing was connected.",
    "invalid_id_token": "The provider's identity token could not be verified, so nothing was connected.",
    "account_mismatch": (
        "You signed in with a different account than the one this connection belongs to. "
        "Nothing was changed. Try again with the original account."
    ),
    "provider_disabled": "This provider has been disabled by your administrator.",
    "oauth_client_not_found": "The OAuth app of this connection no longer exists.",
    "connection_not_found": "The connection to re-authorize no longer exists.",
    "upstream_error": "The provider could not be reached. Try again in a moment.",
    "service_unavailable": (
        "The service is briefly unavailable, so nothing was connected. Start again in a moment."
    ),
    "internal_error": "Something went wrong on our side. Try again.",
}
STATUS_MESSAGES = {
    "pending": (
        "Your account was authorized. Go back to the app to finish connecting it: "
        "nothing is connected until the app confirms it."
    ),
    "active": "Your account is connected.",
    "partial": "Your account is connected, but some permissions were not granted.",
    "needs_reauth": (
        "Your account is connected, but the provider did not issue a long-lived grant. "
        "Connect again and allow access (prompt=consent) to keep it working."
    ),
    "revoked": "This connection is disabled.",
}


@dataclass(frozen=True)
class FlowResult:
    """The outcome of a flow, delivered by the session's `mode` to its `return_to`."""

    connection_id: str | None = None
    status: str | None = None
    error: str | None = None
    missing_scopes: tuple[str, ...] = ()
    mode: str = "popup"
    return_to: str | None = None
    # single use, for the flow's creator only: it goes to `return_to` and nowhere else (never
    # shown on the page, never logged)
    confirmation: str | None = field(default=None, repr=False)

    def message(self) -> dict[str, Any]:
        return {
            "type": RESULT_TYPE,
            "connection_id": self.connection_id,
            "status": self.status,
            "confirmation": self.confirmation,
            "error": self.error,
            "missing_scopes": list(self.missing_scopes),
        }


@dataclass(frozen=True)
class PageResponse:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def security_headers(nonce: str | None = None) -> dict[str, str]:
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    style = f"'nonce-{nonce}'" if nonce else "'none'"
    return {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Referrer-Policy": "no-referrer",
        "Content-Security-Policy": (
            f"default-src 'none'; script-src {script}; style-src {style}; img-src 'none'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
    }


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element (no `</script>`, no HTML comment, no line separators)."""
    text = json.dumps(value, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;padding:2.5rem 1.5rem;"
    "color:#1f2328;background:#fff}main{max-width:28rem;margin:0 auto}h1{font-size:1.25rem;margin:0 0 .75rem}"
    "p{line-height:1.5;margin:.5rem 0}ul{padding-left:1.25rem}code{font-size:.85em;word-break:break-all}"
    ".muted{color:#59636e;font-size:.9rem}"
)


def _page(
    title: str,
    paragraphs: list[str],
    *,
    items: list[str] | None = None,
    script: str | None = None,
    status: int = 200,
) -> PageResponse:
    nonce = secrets.token_urlsafe(18)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{html.escape(title)}</title>",
        f'<style nonce="{nonce}">{_STYLE}</style>',
        "</head><body><main>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f"<p>{html.escape(p)}</p>" for p in paragraphs]
    if items:
        parts.append("<ul>" + "".join(f"<li><code>{html.escape(i)}</code></li>" for i in items) + "</ul>")
    parts.append('<p class="muted">You can close this window.</p>')
    parts.append("</main>")
    if script:
        parts.append(f'<script nonce="{nonce}">{script}</script>')
    parts.append("</body></html>")
    headers = {"Content-Type": "text/html; charset=utf-8", **security_headers(nonce)}
    return PageResponse(status=status, body="".join(parts), headers=headers)


def error_page(message: str, *, title: str = "This link cannot be used", status: int = 400) -> PageResponse:
    """A page for a flow that cannot deliver a result (bad, used or expired session or state)."""
    return _page(title, [message], status=status)


def redirect(location: str, *, status: int) -> PageResponse:
    return PageResponse(status=status, headers={"Location": location, **security_headers()})


def render_result(result: FlowResult) -> PageResponse:
    """The result in the session's mode (see the module docstring)."""
    if result.mode == "redirect" and result.return_to:
        params: dict[str, str] = {}
        if result.connection_id:
            params["connection_id"] = result.connection_id
        if result.status:
            params["status"] = result.status
        if result.confirmation:
            params["confirmation"] = result.confirmation
        if result.error:
            params["error"] = result.error
        if result.missing_scopes:
            params["missing_scopes"] = " ".join(result.missing_scopes)
        return redirect(with_result_params(result.return_to, params), status=303)

    if result.error:
        title = "Not connected" if not result.connection_id else "Connection not changed"
        paragraphs = [ERROR_MESSAGES.get(result.error, ERROR_MESSAGES["provider_error"])]
        paragraphs.append(f"Error code: {result.error}")
    else:
        title = {"active": "Connected", "partial": "Connected", "pending": "Almost done"}.get(
            result.status or "", "Connection saved"
        )
        paragraphs = [STATUS_MESSAGES.get(result.status or "", "The connection was saved.")]
    items = list(result.missing_scopes) if result.missing_scopes else None
    if items:
        paragraphs.append("Not granted:")
    script = None
    if result.return_to:
        script = (
            "(function(){var m="
            + _script_json(result.message())
            + ",o="
            + _script_json(target_origin(result.return_to))
            + ";try{if(window.opener&&!window.opener.closed){window.opener.postMessage(m,o);window.close();}}"
            "catch(e){}})();"
        )
    status = 400 if result.error else 200
    return _page(title, paragraphs, items=items, script=script, status=status)
