"""POST /v1/google/risc: Google's Cross-Account Protection receiver (the `risc` function).

No Authorization header: the security event token's signature is the credential
(`oauth_broker.risc`). The body is the token itself (`application/secevent+jwt`, RFC 8935); it is
read whatever the Content-Type says, since only the signature decides. 202 with no body once its
events are applied; 400 (`invalid_security_event`, `replayed_event`) when nothing was changed.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from oauth_broker.errors import InvalidSecurityEvent
from oauth_broker.http.invocation import current_invocation
from oauth_broker.http.request_body import raw_text_body
from oauth_broker.http.resolver import new_router
from oauth_broker.services import get_services

router = new_router()

RISC_DOC: dict[str, Any] = {
    "summary": "Receive a Google security event (Cross-Account Protection, RISC)",
    "description": "Google's RISC transmitter delivers one signed security event token (RFC 8417) as "
    "the body. Verified (signature against the keys named by the RISC configuration document, `iss`, "
    "`aud` an OAuth client id registered in some tenant, `iat` within the last hour and not in the "
    "future, `jti` acted on once), then applied at once to the connections of the account it names: "
    '`revoked`, `needs_reauth` or a `connection.security_event` (API.md "Google security events"). '
    "A token that fails a check, or a replayed one, gets 400 and changes nothing.",
    "tags": ["google"],
}

MAX_BODY_CHARS = 32_768


def _body() -> str:
    return raw_text_body(
        current_invocation(router).event,
        max_chars=MAX_BODY_CHARS,
        refused=InvalidSecurityEvent("the body is not a security event token; nothing was changed"),
        encoding="ascii",
    )


@router.post("/v1/google/risc", **RISC_DOC)
def receive() -> Response[None]:
    from oauth_broker.risc.receiver import receive_security_event

    receive_security_event(get_services(), _body())
    return Response(status_code=202)
