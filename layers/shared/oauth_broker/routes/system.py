"""Health and the OpenAPI document (both public).

The document is what Powertools generates from every router, made true by
`oauth_broker.http.openapi.truthful_document` (security, problem responses, headers).
"""

from __future__ import annotations

import importlib
import json

from aws_lambda_powertools.event_handler import Response

from oauth_broker import __version__
from oauth_broker.http.resolver import new_router

router = new_router()

_openapi_cache: dict[str, str] = {}


@router.get("/v1/health", summary="Liveness", tags=["system"])
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


def openapi_document() -> str:
    """The OpenAPI 3.1 document of every route, whichever function serves it."""
    if "doc" not in _openapi_cache:
        from oauth_broker.http.openapi import truthful_document
        from oauth_broker.http.openapi_operations import OPERATIONS
        from oauth_broker.http.resolver import build_resolver
        from oauth_broker.routes import ALL_ROUTER_MODULES

        app = build_resolver()
        for name in ALL_ROUTER_MODULES:
            app.include_router(importlib.import_module(name).router)
        generated = app.get_openapi_json_schema(
            title="oauth-broker",
            version=__version__,
            description="A serverless OAuth 2.0 broker: connections, tokens and a safe proxy to Gmail, "
            "the People API and any OAuth 2.0 / OIDC provider. Authorize with a JWT from your identity "
            "provider or an API key (`obk_...`), both as `Authorization: Bearer`.",
        )
        _openapi_cache["doc"] = json.dumps(truthful_document(json.loads(generated), OPERATIONS))
    return _openapi_cache["doc"]


@router.get("/v1/openapi.json", summary="This API's OpenAPI 3.1 document", tags=["system"])
def openapi() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body=openapi_document())
