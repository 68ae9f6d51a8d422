import httpx
import pytest

from oauth_broker_dev import devidp

pytestmark = pytest.mark.e2e


def test_given_make_devs_server_when_health_is_fetched_then_it_is_ok(local_broker):
    resp = httpx.get(f"{local_broker.base_url}/v1/health")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok" and resp.json()["version"]


def test_given_a_dev_admin_token_when_settings_are_read_then_they_come_back(local_broker):
    token = devidp.mint("e2e", "admin@e2e", admin=True)
    resp = httpx.get(f"{local_broker.base_url}/v1/settings", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["expose_access_tokens"] is False


def test_given_no_token_when_a_protected_route_is_called_then_the_gateway_answers_401(local_broker):
    resp = httpx.get(f"{local_broker.base_url}/v1/settings")
    assert resp.status_code == 401 and resp.json() == {"message": "Unauthorized"}


def test_given_a_bad_token_when_a_protected_route_is_called_then_the_gateway_answers_403(local_broker):
    resp = httpx.get(f"{local_broker.base_url}/v1/settings", headers={"Authorization": "Bearer not-a-jwt"})
    assert resp.status_code == 403 and resp.json() == {"message": "Forbidden"}


def test_given_a_token_from_another_issuer_when_used_then_the_gateway_answers_403(local_broker):
    token = devidp.mint("e2e", "mallory", admin=True, issuer="https://other-idp.example.com")
    resp = httpx.get(f"{local_broker.base_url}/v1/settings", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403


def test_given_an_unknown_route_when_called_then_a_404_problem_document_comes_back(local_broker):
    token = devidp.mint("e2e", "alice")
    resp = httpx.get(
        f"{local_broker.base_url}/v1/does-not-exist", headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["code"] == "not_found"


def test_given_the_dev_server_when_the_openapi_document_is_fetched_then_it_is_openapi_3_1(local_broker):
    resp = httpx.get(f"{local_broker.base_url}/v1/openapi.json")
    assert resp.status_code == 200 and resp.json()["openapi"].startswith("3.1")
