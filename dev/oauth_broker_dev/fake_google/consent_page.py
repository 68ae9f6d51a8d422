"""The consent page (account chooser + granular scope checkboxes) and the error page."""

from __future__ import annotations

from flask import Response, render_template_string

from . import scopes as sc
from .config import FakeAccount

CONSENT_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - Google Accounts (fake)</title>
<style>
 body { font-family: Roboto, Arial, sans-serif; background: #f1f3f4; margin: 0; }
 main { max-width: 560px; margin: 40px auto; background: #fff; border: 1px solid #dadce0;
        border-radius: 8px; padding: 32px 40px; }
 h1 { font-size: 22px; font-weight: 400; margin: 0 0 8px; }
 .banner { color: #b06000; font-size: 12px; margin-bottom: 16px; }
 fieldset { border: none; padding: 0; margin: 16px 0; }
 legend { font-weight: 500; margin-bottom: 8px; }
 label { display: block; padding: 8px 0; border-bottom: 1px solid #eee; }
 code { display: block; color: #5f6368; font-size: 11px; margin-left: 24px; }
 .buttons { display: flex; justify-content: flex-end; gap: 12px; margin-top: 24px; }
 button { font-size: 14px; padding: 8px 24px; border-radius: 4px; cursor: pointer; }
 #allow { background: #1a73e8; color: #fff; border: none; }
 #cancel { background: #fff; color: #1a73e8; border: 1px solid #dadce0; }
</style>
</head>
<body>
<main>
 <div class="banner">Fake Google for development and tests - not the real Google.</div>
 <h1><span id="client-id">{{ client_id }}</span> wants to access your Google Account</h1>
 <form method="post" action="{{ action }}" id="consent-form">
  <input type="hidden" name="request_id" value="{{ request_id }}">
  <fieldset id="accounts">
   <legend>Choose an account</legend>
   {% for account in accounts %}
   <label for="account-{{ loop.index0 }}">
    <input type="radio" name="account" id="account-{{ loop.index0 }}" value="{{ account.email }}"
           {% if account.email == selected %}checked{% endif %}>
    {{ account.name }} &lt;{{ account.email }}&gt;
   </label>
   {% endfor %}
  </fieldset>
  <fieldset id="scopes">
   <legend>Select what {{ client_id }} can access</legend>
   {% for scope in scopes %}
   <label for="scope-{{ loop.index0 }}">
    <input type="checkbox" name="scope" id="scope-{{ loop.index0 }}" value="{{ scope.value }}" checked
           {% if scope.required %}disabled data-required="true"{% endif %}>
    {{ scope.description }}
    <code>{{ scope.value }}</code>
   </label>
   {% endfor %}
  </fieldset>
  <div class="buttons">
   <button type="submit" name="action" value="cancel" id="cancel">Cancel</button>
   <button type="submit" name="action" value="allow" id="allow">Allow</button>
  </div>
 </form>
</main>
</body>
</html>
"""

ERROR_TEMPLATE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Error {{ status }} (fake Google)</title></head>
<body>
<main>
 <h1>Access blocked: this request is invalid</h1>
 <p id="error">Error {{ status }}: <span id="error-code">{{ error }}</span></p>
 <p id="error-description">{{ description }}</p>
</main>
</body>
</html>
"""

_PAGE_HEADERS = {
    "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
}


def consent_page(
    request_id: str,
    client_id: str,
    action: str,
    accounts: list[FakeAccount],
    selected: str | None,
    requested_scopes: list[str],
) -> Response:
    scopes = [
        {"value": s, "description": sc.DESCRIPTIONS.get(s, s), "required": s in sc.BASIC}
        for s in requested_scopes
    ]
    html = render_template_string(
        CONSENT_TEMPLATE,
        request_id=request_id,
        client_id=client_id,
        action=action,
        accounts=accounts,
        selected=selected,
        scopes=scopes,
    )
    return Response(html, 200, mimetype="text/html", headers=_PAGE_HEADERS)


def error_page(status: int, error: str, description: str) -> Response:
    html = render_template_string(ERROR_TEMPLATE, status=status, error=error, description=description)
    return Response(html, status, mimetype="text/html", headers=_PAGE_HEADERS)
