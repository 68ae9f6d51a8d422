"""The local HTTP API's routing and authorizer settings follow API Gateway and the template."""

from oauth_broker_dev.gateway import LocalHttpApi
from oauth_broker_dev.template import authorizer_settings, http_routes


def api() -> LocalHttpApi:
    return LocalHttpApi(lambda name, event: {"statusCode": 200})


def test_given_a_specific_route_and_the_catch_all_when_matched_then_the_specific_route_wins():
    route, params = api().match("GET", "/v1/connections/con_1")
    assert (route.function, route.path, params) == ("ApiFunction", "/v1/connections/{id}", {"id": "con_1"})


def test_given_a_greedy_proxy_path_when_matched_then_the_rest_of_the_path_is_one_parameter():
    route, params = api().match("DELETE", "/v1/connections/con_1/proxy/gmail/v1/users/me/messages/abc")
    assert route.function == "ProxyFunction"
    assert params == {"id": "con_1", "path": "gmail/v1/users/me/messages/abc"}


def test_given_an_unknown_v1_path_when_matched_then_the_api_catch_all_takes_it():
    route, _ = api().match("GET", "/v1/nothing")
    assert (route.function, route.path) == ("ApiFunction", "/v1/{proxy+}")


def test_given_a_path_outside_v1_when_matched_then_no_route_answers():
    assert api().match("GET", "/elsewhere") is None


def test_given_the_template_when_the_authorizer_is_read_then_its_cache_ttl_is_the_parameter_default():
    settings = authorizer_settings()
    assert settings["headers"] == ["Authorization"]
    assert settings["ttl_seconds"] == 300.0


def test_given_the_template_when_routes_are_listed_then_exactly_six_are_public():
    public = sorted(r.path for r in http_routes() if not r.authorized)
    assert public == [
        "/v1/google/gmail-push",
        "/v1/google/risc",
        "/v1/health",
        "/v1/oauth/authorize",
        "/v1/oauth/callback",
        "/v1/openapi.json",
    ]


def test_given_concurrent_invocations_when_run_locally_then_each_gets_its_own_handler_environment(
    monkeypatch,
):
    import threading

    from oauth_broker_dev import lambda_runtime

    for key, value in {
        "TABLE_NAME": "t-env",
        "KMS_KEY_ID": "k",
        "EVENT_BUS_NAME": "b",
        "JWT_ISSUER": "https://i.example",
        "JWT_AUDIENCE": "a",
        "JWKS_URL": "https://i.example/jwks",
    }.items():
        monkeypatch.setenv(key, value)
    barrier = threading.Barrier(4)
    seen: list[int] = []

    def hold(name: str):
        with lambda_runtime._environments.acquire(name) as module:
            seen.append(id(module))
            barrier.wait(5)  # all four hold an environment at once

    threads = [threading.Thread(target=hold, args=("api",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(set(seen)) == 4


def recording_api(max_payload: int | None = None) -> tuple[LocalHttpApi, list[str]]:
    calls: list[str] = []

    def invoke(name: str, event: dict) -> dict:
        calls.append(name)
        if name == "AuthorizerFunction":
            return {"isAuthorized": True, "context": {"tenant": "t", "user": "u"}}
        return {"statusCode": 200, "body": "{}"}

    kwargs = {} if max_payload is None else {"max_payload": max_payload}
    return LocalHttpApi(invoke, **kwargs), calls


def test_given_a_body_over_api_gateways_10_mb_when_posted_then_413_payload_too_large_and_no_function_runs():
    from werkzeug.test import Client

    from oauth_broker_dev.gateway import MAX_REQUEST_PAYLOAD

    gateway, calls = recording_api()
    resp = Client(gateway).post(
        "/v1/connections/con_1/proxy/gmail/v1/users/me/messages/send",
        data=b"x" * (MAX_REQUEST_PAYLOAD + 1),
        headers={"Authorization": "Bearer t", "Content-Type": "application/octet-stream"},
    )

    assert MAX_REQUEST_PAYLOAD == 10 * 1024 * 1024
    assert resp.status_code == 413
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.get_json()["code"] == "payload_too_large" and resp.get_json()["status"] == 413
    assert calls == []  # neither the authorizer nor the proxy function ran


def test_given_a_body_of_exactly_the_limit_when_posted_then_the_function_gets_it():
    from werkzeug.test import Client

    gateway, calls = recording_api(max_payload=1024)
    resp = Client(gateway).post(
        "/v1/oauth-clients", data=b"{" + b" " * 1022 + b"}", headers={"Authorization": "Bearer t"}
    )

    assert resp.status_code == 200
    assert calls == ["AuthorizerFunction", "ApiFunction"]


def test_given_a_body_without_content_length_over_the_limit_when_streamed_then_it_is_refused_too():
    import io

    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    gateway, calls = recording_api(max_payload=1024)
    environ = EnvironBuilder(
        path="/v1/oauth-clients", method="POST", headers={"Authorization": "Bearer t"}
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input"] = io.BytesIO(b"x" * 2048)
    environ["wsgi.input_terminated"] = True  # a chunked body, as the dev server hands it over

    resp = gateway.handle(Request(environ))

    assert resp.status_code == 413
    assert calls == []
