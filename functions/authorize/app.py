"""GET /v1/oauth/authorize: consumes a connect session and redirects the browser to the provider.

No KMS: the OAuth state's secrets are sealed with a key derived from the state itself.
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.http.function import HttpFunction
from oauth_broker.observability import logger, observed
from oauth_broker.routes import oauth_flow

function = HttpFunction(oauth_flow.authorize_router)
app = function.app


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@observed("authorize", http=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return function.resolve(event, context)
