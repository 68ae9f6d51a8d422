"""`build_resolver()`: the Powertools resolver every HTTP function uses, errors mapped in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from oauth_broker.auth.api_key_recheck import recheck_api_key
from oauth_broker.auth.principal import Principal
from oauth_broker.errors import BrokerError
from oauth_broker.http.failures import problem_for
from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.problems import (
    from_error,
    problem_response,
    validation_errors,
    validation_failure,
)
from oauth_broker.http.request_body import JsonBodiesOnly, unsupported_media_type

if TYPE_CHECKING:
    from oauth_broker.store.api_keys import ApiKeyStore


def build_resolver(*, enable_validation: bool = True) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=enable_validation)
    if enable_validation:
        # the same validation, refusing bodies that are not JSON: 415 for another type, 400
        # `invalid_json` for what is not JSON text (`oauth_broker.http.request_body`)
        app._request_validation_middleware = JsonBodiesOnly()  # type: ignore[no-untyped-call]

    def _answer(err: Exception, problem: BrokerError) -> Response[str]:
        # an audited route's request refused before the route ran is recorded as failed (the
        # route's own failures were recorded by its middleware: `oauth_broker.http.audited`)
        from oauth_broker.http.audited import record_refused

        record_refused(app, err, problem.status, problem.code)
        return from_error(problem)

    @app.exception_handler(BrokerError)
    def _broker_error(err: BrokerError) -> Response[str]:
        return _answer(err, problem_for(err))

    @app.exception_handler(RequestValidationError)
    def _validation(err: RequestValidationError) -> Response[str]:
        return _answer(err, validation_failure(validation_errors(list(err.errors()))))

    @app.exception_handler(RequestUnsupportedContentType)
    def _media_type(err: RequestUnsupportedContentType) -> Response[str]:
        return _answer(err, unsupported_media_type())

    @app.not_found
    def _not_found(_: NotFoundError) -> Response[str]:
        return problem_response(404, "not_found", "Not found", "no such route")

    @app.exception_handler(Exception)
    def _unexpected(err: Exception) -> Response[str]:
        # An AWS dependency's fault: 503 with Retry-After, or 500 service_misconfigured; anything
        # else a 500 internal_error (`oauth_broker.http.failures`)
        return _answer(err, problem_for(err))

    return app


def new_router() -> APIGatewayHttpRouter:
    """A Powertools router for one resource's routes (typed wrapper)."""
    return APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


def current_principal(router: Any) -> Principal:
    """The caller of the invocation being served (`current_invocation`), never another request's."""
    return current_invocation(router).principal()


def require_admin(principal: Principal) -> Principal:
    from oauth_broker.errors import Forbidden

    if not principal.is_admin:
        raise Forbidden("this route needs a tenant admin")
    return principal


def require_admin_write(router: Any, *, api_keys: ApiKeyStore | None = None) -> Principal:
    """The caller of an admin write (settings, API keys, providers, OAuth clients): an admin and,
    when an API key, one that still exists now (`recheck_api_key`: one consistent GetItem), not
    only when the authorizer's cached decision was made. Reads use `require_admin` alone."""
    invocation = current_invocation(router)
    principal = require_admin(invocation.principal())
    if principal.via == "api_key":
        if api_keys is None:
            from oauth_broker.services import get_services

            api_keys = get_services().api_keys
        recheck_api_key(principal, invocation.header("authorization"), api_keys)
    return principal
