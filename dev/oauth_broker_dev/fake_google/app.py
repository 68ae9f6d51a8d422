"""The Flask app factory of the fake Google."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from flask import Flask, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from .config import FakeGoogleConfig
from .controls import RecordedRequest, endpoint_of

if TYPE_CHECKING:
    from .fake import FakeGoogle


def get_fake() -> FakeGoogle:
    return cast("FakeGoogle", current_app.extensions["fake_google"])


# The Google APIs the fake serves a subset of: a path under them that it does not route is a
# method it does not implement, not a page that is missing.
API_PREFIXES = ("/gmail/", "/upload/gmail/", "/people/")


def not_implemented(exc: HTTPException) -> Response | HTTPException:
    """A request the fake routes nowhere: an unknown method on any path it serves, or any path under
    the Gmail and People APIs, is 501 in Google's error shape, naming the request, so that a user
    blames the fake (and not the broker); other unknown paths keep Werkzeug's 404. A 404 a route
    returns itself (an unknown message id: Google's own answer) is not concerned."""
    from .errors import api_error

    if request.url_rule is not None:  # raised by a route, not by routing
        return exc
    if isinstance(exc, MethodNotAllowed) or request.path.startswith(API_PREFIXES):
        return api_error(501, f"not implemented by the fake Google: {request.method} {request.path}")
    return exc


def create_app(config: FakeGoogleConfig | None = None, fake: FakeGoogle | None = None) -> Flask:
    """The fake's WSGI app. Without `fake`, a new `FakeGoogle(config)` owns the state; reach it as
    `app.extensions["fake_google"]`. Works mounted under a prefix (werkzeug DispatcherMiddleware):
    generated URLs use `config.base_url`."""
    if fake is None:
        from .fake import FakeGoogle

        return FakeGoogle(config).app
    from .account_page import bp as account_bp
    from .api_routes import bp as api_bp
    from .control_routes import bp as control_bp
    from .gmail_push_routes import bp as gmail_push_bp
    from .gmail_push_routes import control_bp as gmail_push_control_bp
    from .oauth_routes import bp as oauth_bp
    from .risc_routes import bp as risc_bp
    from .risc_routes import control_bp as risc_control_bp

    app = Flask("oauth_broker_dev.fake_google")
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["fake_google"] = fake
    app.register_blueprint(oauth_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(gmail_push_bp)
    app.register_blueprint(risc_bp)
    app.register_blueprint(account_bp)
    if fake.config.enable_control:
        app.register_blueprint(control_bp)
        app.register_blueprint(risc_control_bp)
        app.register_blueprint(gmail_push_control_bp)

    @app.before_request
    def _record_request() -> None:
        endpoint = endpoint_of(request.path)
        if endpoint == "control":
            return
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=request.args.to_dict(flat=False),
            headers=dict(request.headers.items()),
            body=request.get_data(cache=True),
            endpoint=endpoint,
            timestamp=time.time(),
        )
        g.fake_google_record = recorded
        fake.record_request(recorded)

    @app.errorhandler(NotFound)
    @app.errorhandler(MethodNotAllowed)
    def _not_routed(exc: HTTPException) -> Response | HTTPException:
        return not_implemented(exc)

    @app.after_request
    def _record_status(response: Response) -> Response:
        recorded = g.get("fake_google_record")
        if recorded is not None:
            recorded.status = response.status_code
        return response

    return app
