"""Powertools routers, one module per resource. Every module here has a module-level `router`.

`ALL_ROUTER_MODULES` lists them all: the OpenAPI document is generated from their union, and
each function's app.py includes the ones it serves.
"""

ALL_ROUTER_MODULES = (
    "oauth_broker.routes.system",
    "oauth_broker.routes.settings",
    "oauth_broker.routes.api_keys",
)
