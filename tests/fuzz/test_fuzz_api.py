"""The whole API fuzzed from its OpenAPI document (schemathesis) against the running broker, as each
of a seeded tenant's callers: its admin (JWT), a plain user (JWT) and an API key (sometimes acting
for the user). Path parameters are either what the fuzzer generated or ids that exist in the
tenant, drawn by Hypothesis, so requests get past the 404s into the code behind them.

Checks: no 5xx, our problem-document and no-seeded-secret checks, and the document's own
promises: status codes, content types, headers and bodies conform to it.

Every run prints its seed (FUZZ_SEED, else a random one): `FUZZ_SEED=<seed> make fuzz` replays
the same requests."""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from e2e.conftest import RunningBroker
from fuzz.checks import SEEN, no_seeded_secret, not_a_broker_server_error, problem_documents
from fuzz.conftest import Scratch, fuzz_seed, max_examples
from fuzz.links import add_links
from fuzz.local_urls import keep_local
from fuzz.world import FuzzWorld
from oauth_broker.routes.system import openapi_document

pytestmark = pytest.mark.fuzz

# The document is built at collection (the broker's own code builds the one it serves:
# `test_given_the_running_broker_..._then_it_is_the_one_fuzzed` holds the two equal), with the
# links between operations added for the stateful phase.
DOCUMENT = json.loads(openapi_document())
schema = schemathesis.openapi.from_dict(
    add_links(copy.deepcopy(DOCUMENT)),
    config=schemathesis.Config.from_dict(
        {
            "seed": fuzz_seed(),
            "max-redirects": 0,
            "request-timeout": 60,
            "generation": {"database": "none"},
            "phases": {
                # explicit examples cannot be combined with drawing known ids (`@schema.given`)
                "examples": {"enabled": False},
                # generation that does not feed on earlier responses (their ids are random): a
                # seed then replays the same requests
                "fuzzing": {"extra-data-sources": {"responses": False}, "error-feedback": {"enabled": False}},
            },
        }
    ),
)

OURS = [not_a_broker_server_error, problem_documents, no_seeded_secret]
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CHECKS = OURS + CONFORMANCE

PROXY = "/v1/connections/{connection_id}/proxy/{path}"
CATALOG_SCOPES = ["gmail.readonly", "gmail.send", "https://www.googleapis.com/auth/gmail.modify", "openid"]
DEBUG = bool(os.environ.get("FUZZ_DEBUG"))


def destructive(case: Any) -> bool:
    """Deletes and patches (of the broker's own resources) go to the scratch tenant."""
    return case.method.upper() in ("DELETE", "PATCH") and case.path != PROXY


def known_path(world: FuzzWorld) -> st.SearchStrategy[str]:
    message = st.sampled_from(world.message_ids) if world.message_ids else st.just("0")
    return st.one_of(
        st.sampled_from(
            [
                "gmail/v1/users/me/profile",
                "gmail/v1/users/me/messages",
                "gmail/v1/users/me/labels",
                "gmail/v1/users/me/settings/sendAs",
            ]
        ),
        message.map(lambda m: f"gmail/v1/users/me/messages/{m}"),
    )


def name_existing_things(case: Any, data: Any, world: FuzzWorld) -> None:
    """Replace (often, not always) generated ids with the world's own, drawn by Hypothesis."""
    params = case.path_parameters or {}
    known: dict[str, st.SearchStrategy[Any]] = {
        "connection_id": st.just(world.connection_id),
        "client_id": st.just(world.oauth_client_id),
        "key_id": st.just(world.api_key_id),
        "key": st.sampled_from(["google-mail", "google-contacts"]),
        "message_id": st.sampled_from(world.message_ids or ["0"]),
        "path": known_path(world),
    }
    for name in list(params):
        if name in known and data.draw(st.integers(0, 3), label=f"use a known {name}") > 0:
            params[name] = data.draw(known[name], label=name)
    if isinstance(case.body, dict):
        body = case.body
        if "provider" in body and data.draw(st.booleans(), label="a known provider"):
            body["provider"] = "google-mail"
        if "oauth_client_id" in body and data.draw(st.booleans(), label="known oauth_client_id"):
            body["oauth_client_id"] = world.oauth_client_id
        if "return_to" in body and data.draw(st.booleans(), label="allowed return_to"):
            body["return_to"] = world.base_url
        if "scopes" in body and data.draw(st.booleans(), label="catalog scopes"):
            body["scopes"] = data.draw(st.lists(st.sampled_from(CATALOG_SCOPES), max_size=3), label="scopes")
        for name in ("to", "cc", "bcc"):
            if isinstance(body.get(name), list) and data.draw(st.booleans(), label=f"real {name}"):
                body[name] = ["bob@example.com"]
        case.body = keep_local(body, world.base_url)


FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,
    max_examples=max_examples(),
    suppress_health_check=list(HealthCheck),
)


def test_given_the_running_broker_when_its_document_is_fetched_then_it_is_the_one_fuzzed(
    local_broker: RunningBroker,
) -> None:
    served = httpx.get(f"{local_broker.base_url}/v1/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == DOCUMENT


def send_and_check(
    case: Any, data: Any, principal: str, broker: RunningBroker, stable: FuzzWorld, scratch: Scratch
) -> None:
    world = scratch.world() if destructive(case) else stable
    name_existing_things(case, data, world)
    on_behalf = principal == "api_key" and data.draw(st.booleans(), label="X-On-Behalf-Of")
    generated = {k.lower(): k for k in (case.headers or {})}
    if "x-on-behalf-of" in generated and data.draw(st.integers(0, 3), label="drop X-On-Behalf-Of") > 0:
        # the document offers it to every caller; a JWT caller sending it gets 403 (tried 1 in 4)
        del case.headers[generated["x-on-behalf-of"]]
    response = case.call(base_url=broker.base_url, headers=world.headers(principal, on_behalf=on_behalf))
    SEEN[(case.operation.label, response.status_code)] += 1
    if DEBUG:
        print(principal, case.operation.label, response.status_code, response.content[:200])
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@schema.given(data=st.data())
@FUZZ_SETTINGS
def test_given_any_request_from_the_document_when_the_admin_sends_it_then_the_answer_keeps_the_contract(
    case: Any, data: Any, local_broker: RunningBroker, stable_world: FuzzWorld, scratch: Scratch
) -> None:
    send_and_check(case, data, "admin", local_broker, stable_world, scratch)


@schema.parametrize()
@schema.given(data=st.data())
@FUZZ_SETTINGS
def test_given_any_request_from_the_document_when_a_plain_user_sends_it_then_the_answer_keeps_the_contract(
    case: Any, data: Any, local_broker: RunningBroker, stable_world: FuzzWorld, scratch: Scratch
) -> None:
    send_and_check(case, data, "user", local_broker, stable_world, scratch)


@schema.parametrize()
@schema.given(data=st.data())
@FUZZ_SETTINGS
def test_given_any_request_from_the_document_when_an_api_key_sends_it_then_the_answer_keeps_the_contract(
    case: Any, data: Any, local_broker: RunningBroker, stable_world: FuzzWorld, scratch: Scratch
) -> None:
    send_and_check(case, data, "api_key", local_broker, stable_world, scratch)


def test_given_the_links_of_the_document_when_callers_chain_operations_then_every_answer_keeps_the_contract(
    local_broker: RunningBroker, scratch: Scratch
) -> None:
    """The stateful phase: sequences that follow the links (create a client, then read, rename and
    delete it; list connections, then use one ...), as a scratch tenant's admin."""
    world = scratch.world()
    base = schema.as_state_machine()

    class Workflow(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": local_broker.base_url, "headers": world.headers("admin")}

        def before_call(self, case: Any) -> None:
            if isinstance(case.body, dict):
                case.body = keep_local(case.body, world.base_url)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            SEEN[(case.operation.label, response.status_code)] += 1
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=settings(
            deadline=None,
            database=None,
            max_examples=max(2, max_examples() // 2),
            stateful_step_count=6,
            suppress_health_check=list(HealthCheck),
        )
    )
