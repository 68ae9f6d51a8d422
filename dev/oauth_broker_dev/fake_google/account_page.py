"""The fake's myaccount.google.com "Third-party apps & services" page: the apps that have access to
an account, each with a "Remove access" button (`fake.remove_access`: the grants die, and with a
registered Cross-Account Protection receiver Google's `tokens-revoked` is pushed to it)."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template_string, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from . import errors
from .app import get_fake

bp = Blueprint("fake_google_account", __name__, url_prefix="/myaccount")

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Third-party apps &amp; services - Google Account (fake)</title>
<style>
 body { font-family: Roboto, Arial, sans-serif; background: #f1f3f4; margin: 0; }
 main { max-width: 640px; margin: 40px auto; background: #fff; border: 1px solid #dadce0;
        border-radius: 8px; padding: 32px 40px; }
 h1 { font-size: 22px; font-weight: 400; margin: 0 0 8px; }
 .banner { color: #b06000; font-size: 12px; margin-bottom: 16px; }
 li { list-style: none; padding: 12px 0; border-bottom: 1px solid #eee; }
 ul { padding: 0; }
 code { display: block; color: #5f6368; font-size: 11px; }
 button { font-size: 14px; padding: 6px 16px; border-radius: 4px; cursor: pointer;
          background: #fff; color: #d93025; border: 1px solid #dadce0; }
 #notice { color: #188038; }
</style>
</head>
<body>
<main>
 <div class="banner">Fake Google for development and tests - not the real Google.</div>
 <h1>Third-party apps with access to {{ account.email }}</h1>
 {% if removed %}<p id="notice" role="status">Access removed for {{ removed }}.</p>{% endif %}
 <ul id="apps">
 {% for app in apps %}
  <li data-client-id="{{ app.client_id }}">
   <strong>{{ app.client_id }}</strong>
   {% for scope in app.scopes %}<code>{{ scope }}</code>{% endfor %}
   <form method="post" action="{{ action }}">
    <input type="hidden" name="email" value="{{ account.email }}">
    <input type="hidden" name="client_id" value="{{ app.client_id }}">
    <button type="submit" class="remove-access">Remove access</button>
   </form>
  </li>
 {% else %}
  <li id="no-apps">No third-party app has access to this account.</li>
 {% endfor %}
 </ul>
</main>
</body>
</html>"""


@bp.get("/connections")
def connections() -> BaseResponse:
    """?email= (or authuser=): the apps with access to that account."""
    fake = get_fake()
    account = fake._account_or_none(request.args.get("email") or request.args.get("authuser"))
    if account is None:
        return errors.json_response({"error": "unknown account: give ?email="}, 404)
    html = render_template_string(
        PAGE,
        account=account,
        apps=fake.apps_with_access(account.email),
        removed=request.args.get("removed"),
        action=url_for(".remove"),  # url_for includes the mount prefix
    )
    return Response(html, mimetype="text/html")


@bp.post("/connections/remove")
def remove() -> BaseResponse:
    fake = get_fake()
    email, client_id = request.form.get("email", ""), request.form.get("client_id", "")
    if fake._account_or_none(email) is None or not client_id:
        return errors.json_response({"error": "email and client_id are needed"}, 400)
    fake.remove_access(email, client_id)
    return redirect(url_for(".connections", email=email, removed=client_id), 303)
