"""GET /v1/oauth/authorize and GET /v1/oauth/callback: the browser's half of the connect flow.

Both answer HTML pages or redirects (never problem documents: a browser shows them). Each function
serves only its own route: the authorize function includes `authorize_router`, the callback
function `callback_router`; `router` carries both for the OpenAPI document. No Authorization
header: the connect session token and the OAuth state are the credentials. authlib and joserfc are
imported on first use (inside `oauth_broker.oauth`), not here; the callback's half of the flow
(`connect.callback`) is imported when the callback runs, so the authorize function never loads it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aws_lambda_powertools.event_handler import Response

from oauth_broker.connect.authorize import start_authorization
from oauth_broker.connect.result_page import PageResponse, error_page
from oauth_broker.dependency_errors import dependency_error, dependency_fault_code
from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.resolver import new_router
from oauth_broker.observability import logger
from oauth_broker.services import get_services

authorize_router = new_router()
callback_router = new_router()
router = new_router()  # both routes, for the OpenAPI document (ALL_ROUTER_MODULES)


def _response(page: PageResponse) -> Response[str]:
    headers = dict(page.headers)
    content_type = headers.pop("Content-Type", None)
    return Response(status_code=page.status, content_type=content_type, body=page.body, headers=headers)


def _unexpected(where: str, err: Exception) -> Response[str]:
    dependency = dependency_error(err)
    if dependency is not None:  # an AWS dependency's fault: classified once (dependency_errors)
        logger.warning(
            f"{where}: dependency failed",
            extra={"code": dependency.code, "aws_error": dependency_fault_code(err)},
        )
        page = error_page(
            "We could not finish this step because a service we depend on is busy or unavailable. "
            "Wait a moment, then go back to the app and try again.",
            title="Temporarily unavailable",
            status=dependency.status,
        )
        return _response(replace(page, headers={**page.headers, **dependency.headers}))
    logger.error(f"{where}: unexpected error", extra={"error_type": type(err).__name__})
    return _response(
        error_page(
            "Something went wrong on our side. Go back to the app and try again.", title="Error", status=500
        )
    )


AUTHORIZE_DOC: dict[str, Any] = {
    "summary": "Start a connect flow (browser)",
    "description": "Consumes the connect session `?session=` and redirects (302) to the provider's consent "
    "page with state, PKCE S256, nonce (OIDC) and the provider's default parameters. A bad, used or "
    "expired session gets a 400 HTML page.",
    "tags": ["oauth"],
    "responses": {302: {"description": "to the provider"}, 400: {"description": "HTML error page"}},
}


def authorize() -> Response[str]:
    invocation = current_invocation(authorize_router)
    try:
        page = start_authorization(
            get_services(), invocation.query("session"), domain_name=invocation.domain_name
        )
    except Exception as err:
        return _unexpected("authorize", err)
    return _response(page)


CALLBACK_DOC: dict[str, Any] = {
    "summary": "Finish a connect flow (browser; the provider's redirect URI)",
    "description": "`?code&state[&scope][&iss]` or `?error&state`. Popup mode: an HTML page that posts "
    '`{type:"oauth-broker:result", connection_id, status, error, missing_scopes}` to the opener at the '
    "exact origin of `return_to`; redirect mode: 303 to `return_to`. A replayed, unknown or expired state "
    "gets a 400 HTML page.",
    "tags": ["oauth"],
    "responses": {
        200: {"description": "HTML result page"},
        303: {"description": "to return_to"},
        400: {"description": "HTML error page"},
    },
}


def callback() -> Response[str]:
    from oauth_broker.connect.callback import finish_authorization

    params = current_invocation(callback_router).query_params()
    try:
        page = finish_authorization(get_services(), params)
    except Exception as err:
        return _unexpected("callback", err)
    return _response(page)


for _router in (authorize_router, router):
    _router.get("/v1/oauth/authorize", **AUTHORIZE_DOC)(authorize)
for _router in (callback_router, router):
    _router.get("/v1/oauth/callback", **CALLBACK_DOC)(callback)
