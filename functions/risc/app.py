"""POST /v1/google/risc: Google's Cross-Account Protection receiver. Behind no authorizer (the
security event token's signature is the credential) and without KMS rights: it cuts or flags
connections and discards tokens, it never reads one."""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from oauth_broker.http.function import HttpFunction
from oauth_broker.observability import logger, observed
from oauth_broker.routes import risc

function = HttpFunction(risc.router)
app = function.app


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@observed("risc", http=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return function.resolve(event, context)
