"""OAuth 2.0 / OIDC protocol glue: authlib for the authorization URL, the code exchange and token
revocation (over the process's injected httpx client), joserfc for ID tokens, OIDC discovery.

Importing this package is cheap: authlib and joserfc are imported inside the functions that use
them, so only the authorize and callback paths pay for them.
"""
