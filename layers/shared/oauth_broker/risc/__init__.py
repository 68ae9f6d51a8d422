"""Google Cross-Account Protection (RISC): the receiver of Google's security event tokens.

`verify` checks a token (signature, `iss`, `aud`, `iat`, `jti`, claims), `replay` makes each event
acted on once, `events` applies each event type to the connections it concerns, and `receiver`
runs the three for one delivery (`POST /v1/google/risc`, the `risc` function: no KMS rights).
"""
