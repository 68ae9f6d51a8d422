"""The connect flow: connect sessions, the authorize redirect, the callback and its result page,
and what a provider's enable/disable does to the tenant's connections.

    POST /v1/connect-sessions  -> connect.sessions.create_connect_session
    GET  /v1/oauth/authorize   -> connect.authorize.start_authorization
    GET  /v1/oauth/callback    -> connect.callback.finish_authorization -> connect.result_page
"""
