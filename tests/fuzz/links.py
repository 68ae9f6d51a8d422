"""OpenAPI links between the broker's operations, for schemathesis' stateful phase: what one
response creates or lists, the next request names (create a client -> read, rename, delete it;
list connections -> read, patch, test, refresh, send with one of them; ...).

The document the broker serves has none (Powertools does not emit them); they are added to the
fuzzer's copy here, found by method and path so that renamed operation ids do not break them."""

from __future__ import annotations

from typing import Any

CON = "/v1/connections/{connection_id}"
# (source method, source path, status) -> [(target method, target path, {parameter: expression})]
LINKS: dict[tuple[str, str, str], list[tuple[str, str, dict[str, str]]]] = {
    ("post", "/v1/oauth-clients", "201"): [
        (m, "/v1/oauth-clients/{client_id}", {"client_id": "$response.body#/id"})
        for m in ("get", "patch", "delete")
    ],
    ("get", "/v1/oauth-clients", "200"): [
        (m, "/v1/oauth-clients/{client_id}", {"client_id": "$response.body#/data/0/id"})
        for m in ("get", "patch")
    ],
    ("post", "/v1/api-keys", "201"): [
        ("delete", "/v1/api-keys/{key_id}", {"key_id": "$response.body#/id"}),
    ],
    ("post", "/v1/providers", "201"): [
        ("patch", "/v1/providers/{key}", {"key": "$response.body#/key"}),
    ],
    ("get", "/v1/connections", "200"): [
        (m, p, {"connection_id": "$response.body#/data/0/id"})
        for m, p in (
            ("get", CON),
            ("patch", CON),
            ("post", f"{CON}/test"),
            ("post", f"{CON}/refresh"),
            ("get", f"{CON}/token"),
            ("get", f"{CON}/gmail/messages"),
            ("post", f"{CON}/gmail/messages"),
            ("get", f"{CON}/contacts"),
            ("delete", CON),
        )
    ],
    ("post", "/v1/connect-sessions/confirm", "200"): [
        (m, p, {"connection_id": "$response.body#/id"}) for m, p in (("get", CON), ("delete", CON))
    ],
    ("get", f"{CON}/gmail/messages", "200"): [
        (
            "get",
            f"{CON}/gmail/messages/{{message_id}}",
            {"connection_id": "$request.path.connection_id", "message_id": "$response.body#/data/0/id"},
        ),
    ],
    ("post", f"{CON}/gmail/messages", "201"): [
        (
            "get",
            f"{CON}/gmail/messages/{{message_id}}",
            {"connection_id": "$request.path.connection_id", "message_id": "$response.body#/id"},
        ),
    ],
}


def add_links(document: dict[str, Any]) -> dict[str, Any]:
    paths = document.get("paths", {})
    for (method, path, status), targets in LINKS.items():
        source = paths.get(path, {}).get(method)
        if source is None:
            continue
        response = source.setdefault("responses", {}).setdefault(status, {"description": "success"})
        links = response.setdefault("links", {})
        for target_method, target_path, parameters in targets:
            target = paths.get(target_path, {}).get(target_method)
            if target is None or "operationId" not in target:
                continue
            links[f"{target_method.upper()} {target_path}"] = {
                "operationId": target["operationId"],
                "parameters": parameters,
            }
    return document
