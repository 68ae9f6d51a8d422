"""Powertools routers, one module per resource. Every module here has a module-level `router`.

`ALL_ROUTER_MODULES` lists them all: the OpenAPI document is generated from their union, and
each function's app.py includes the ones it serves.
"""

ALL_ROUTER_MODULES = (
    "oauth_broker.routes.system",
    "oauth_broker.routes.settings",
    "oauth_broker.routes.api_keys",
    "oauth_broker.routes.audit",
    "oauth_broker.routes.providers",
    "oauth_broker.routes.oauth_clients",
    "oauth_broker.routes.connect_sessions",
    "oauth_broker.routes.connect_confirm",
    "oauth_broker.routes.connections",
    "oauth_broker.routes.connection_lifecycle",
    "oauth_broker.routes.revocations",
    "oauth_broker.routes.oauth_flow",
    "oauth_broker.routes.proxy",
    "oauth_broker.routes.gmail",
    "oauth_broker.routes.gmail_watch",
    "oauth_broker.routes.contacts",
    "oauth_broker.routes.connection_probe",
    "oauth_broker.routes.risc",
    "oauth_broker.routes.gmail_push",
)
