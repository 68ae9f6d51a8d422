"""HTTP API REQUEST authorizer: OIDC JWT or API key -> {tenant, user, is_admin, via}."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.auth.authorizer import authorizer_for
from oauth_broker.observability import logger, observed
from oauth_broker.services import get_services


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@observed("authorizer")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return authorizer_for(get_services()).decide(event)
