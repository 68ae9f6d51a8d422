"""`oauth-broker dev` and `oauth-broker invoke` as a person meets them, each run as a subprocess:
a busy port, data across a restart, a quiet log naming each line's function, and `invoke` with its
result alone on stdout."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from e2e.dev_cli import REPO, bearer, connect, dev_server, register_client, run_cli
from oauth_broker_dev import devidp
from oauth_broker_dev.aws_local import free_port

pytestmark = pytest.mark.e2e

MOTO_REQUEST_LINE = re.compile(r'"(\x1b\[[0-9;]*m)*POST / HTTP/1\.1')


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "local"
    path.mkdir()
    return path


def admin_token(state_dir: Path) -> str:
    """The banner's kind of token, minted with the data directory's dev IdP key."""
    result = run_cli("dev-token", state_dir=state_dir)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# -- make dev -------------------------------------------------------------------------------------


def test_given_the_port_is_taken_when_dev_starts_then_one_line_says_so_before_any_banner_or_token(
    state_dir: Path,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_cli("dev", "--port", str(port), state_dir=state_dir, timeout=30)

    assert result.returncode == 2
    assert re.fullmatch(rf"oauth-broker: port {port} is in use; PORT=(\d+) make dev\n", result.stderr)
    suggested = int(re.findall(r"PORT=(\d+)", result.stderr)[0])
    assert suggested > port
    assert result.stdout == ""  # no "serving" banner, no token


def test_given_dev_when_ready_then_the_banner_says_the_tokens_lifetime_how_to_mint_another_and_the_data_dir(
    state_dir: Path,
) -> None:
    with dev_server(state_dir) as dev:
        banner = dev.stdout()
        token = re.findall(r"^    (ey[\w.-]+)$", banner, re.MULTILINE)
        settings = httpx.get(f"{dev.base_url}/v1/settings", headers=bearer(token[0]), timeout=30)

    assert f"oauth-broker is serving on {dev.base_url}" in banner
    assert "valid 12 hours; `make token` mints another" in banner
    assert f"data:       {state_dir} (kept across restarts; `make dev-reset` starts clean)" in banner
    assert settings.status_code == 200  # the banner's token is an admin's of tenant demo
    metrics_file = state_dir / "metrics.emf.jsonl"
    assert f"metrics:    {metrics_file} (CloudWatch EMF, one per line)" in banner
    settings_requests = [
        doc
        for doc in map(json.loads, metrics_file.read_text().splitlines())
        if doc.get("route") == "GET /v1/settings" and "requests" in doc
    ]
    assert settings_requests and settings_requests[0]["status_class"] == "2xx"  # EMF in the file
    assert '"_aws"' not in banner + dev.stdout()  # and not in the terminal


def test_given_a_client_and_a_connection_when_dev_is_stopped_and_started_again_then_both_still_work(
    state_dir: Path,
) -> None:
    port = free_port()
    with dev_server(state_dir, port=port) as first:
        token = admin_token(state_dir)
        with httpx.Client(base_url=first.base_url, timeout=30) as http:
            client_id = register_client(http, token)
            connection_id = connect(http, token, client_id)
        assert first.stop() == 0  # Ctrl-C

    with (
        dev_server(state_dir, port=port) as second,
        httpx.Client(base_url=second.base_url, timeout=30) as http,
    ):
        clients = http.get("/v1/oauth-clients", headers=bearer(token))  # the token from before the restart
        connection = http.get(f"/v1/connections/{connection_id}", headers=bearer(token))
        # The stored tokens decrypt (KMS key material kept) and the fake Google still knows them.
        messages = http.post(f"/v1/connections/{connection_id}/test", headers=bearer(token))
        assert second.stop() == 0

    assert clients.status_code == 200 and [c["id"] for c in clients.json()["data"]] == [client_id]
    assert connection.status_code == 200 and connection.json()["status"] == "active"
    assert messages.status_code == 200 and messages.json()["ok"] is True, messages.text


def test_given_saved_data_when_dev_is_stopped_with_sigterm_then_the_data_is_kept_too(state_dir: Path) -> None:
    with dev_server(state_dir) as first:
        token = admin_token(state_dir)
        with httpx.Client(base_url=first.base_url, timeout=30) as http:
            client_id = register_client(http, token)
        assert first.stop(signal.SIGTERM) == 0

    with dev_server(state_dir) as second:
        listed = httpx.get(f"{second.base_url}/v1/oauth-clients", headers=bearer(token), timeout=30)

    assert [c["id"] for c in listed.json()["data"]] == [client_id]


def saved_client(state_dir: Path) -> str:
    """A `make dev` session that registered one OAuth client and was stopped; the admin token."""
    with dev_server(state_dir) as dev:
        token = admin_token(state_dir)
        with httpx.Client(base_url=dev.base_url, timeout=30) as http:
            register_client(http, token)
        assert dev.stop() == 0
    return token


def test_given_saved_data_when_dev_reset_runs_then_the_next_dev_starts_empty(state_dir: Path) -> None:
    token = saved_client(state_dir)

    metrics_written = (state_dir / "metrics.emf.jsonl").exists()
    reset = run_cli("dev-reset", state_dir=state_dir)
    metrics_kept = (state_dir / "metrics.emf.jsonl").exists()
    with dev_server(state_dir) as dev:
        listed = httpx.get(f"{dev.base_url}/v1/oauth-clients", headers=bearer(token), timeout=30)

    assert metrics_written and not metrics_kept
    assert reset.returncode == 0 and reset.stdout.startswith(
        f"oauth-broker: local data in {state_dir} deleted"
    )
    assert listed.status_code == 200 and listed.json()["data"] == []  # and the old token still works


def test_given_saved_data_when_dev_starts_with_reset_then_it_starts_empty(state_dir: Path) -> None:
    token = saved_client(state_dir)

    with dev_server(state_dir, "--reset") as dev:
        listed = httpx.get(f"{dev.base_url}/v1/oauth-clients", headers=bearer(token), timeout=30)

    assert listed.status_code == 200 and listed.json()["data"] == []


def test_given_a_running_dev_when_dev_reset_runs_then_it_refuses_and_the_data_stays(state_dir: Path) -> None:
    with dev_server(state_dir) as dev:
        token = admin_token(state_dir)
        with httpx.Client(base_url=dev.base_url, timeout=30) as http:
            client_id = register_client(http, token)
        reset = run_cli("dev-reset", state_dir=state_dir)
        listed = httpx.get(f"{dev.base_url}/v1/oauth-clients", headers=bearer(token), timeout=30)

    assert reset.returncode == 2
    assert (
        reset.stderr
        == f"oauth-broker: oauth-broker dev is running on the data in {state_dir}; stop it first\n"
    )
    assert [c["id"] for c in listed.json()["data"]] == [client_id]


def test_given_dev_when_requests_of_several_functions_overlap_then_the_log_is_quiet_and_names_each_function(
    state_dir: Path,
) -> None:
    with dev_server(state_dir) as dev:
        token = admin_token(state_dir)

        def call(i: int) -> None:
            with httpx.Client(base_url=dev.base_url, timeout=30) as http:
                for _ in range(3):
                    http.get("/v1/oauth/callback", params={"state": f"st_unknown_{i}", "code": "c"})
                    http.get("/v1/settings", headers=bearer("not-a-jwt"))  # the authorizer denies
                    http.get("/v1/oauth-clients", headers=bearer(token))
                    http.get("/v1/oauth/authorize", params={"session": f"cs_unknown_{i}"})

        threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert dev.stop() == 0
    output = dev.stdout() + dev.stderr()
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    expected = {"callback: ": "oauth-broker-callback", "denied": "oauth-broker-authorizer"}
    expected["authorize: "] = "oauth-broker-authorize"
    named = [r for r in records if any(str(r.get("message")).startswith(p) for p in expected)]

    assert not MOTO_REQUEST_LINE.search(output), "moto's request log is on"
    assert "No application metrics" not in output
    assert len({r["function_name"] for r in named}) == 3, named  # all three functions logged
    for record in named:
        prefix = next(p for p in expected if str(record["message"]).startswith(p))
        assert record["function_name"] == expected[prefix], record


def test_given_log_level_debug_when_dev_runs_then_motos_request_log_comes_back(state_dir: Path) -> None:
    with dev_server(state_dir, LOG_LEVEL="DEBUG") as dev:
        httpx.get(f"{dev.base_url}/v1/oauth-clients", headers=bearer(admin_token(state_dir)), timeout=30)
        assert dev.stop() == 0

    assert MOTO_REQUEST_LINE.search(dev.stdout() + dev.stderr())


# -- oauth-broker invoke ----------------------------------------------------------------------------


def test_given_the_saved_authorizer_event_when_invoked_then_it_allows_the_minted_dev_token(
    state_dir: Path,
) -> None:
    result = run_cli("invoke", "authorizer", "-e", "events/authorizer.json", state_dir=state_dir)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "isAuthorized": True,
        "context": {"tenant": "demo", "user": "admin@demo", "is_admin": True, "via": "jwt", "key_id": ""},
    }


def test_given_tenant_and_user_options_when_the_authorizer_event_is_invoked_then_its_context_is_theirs(
    state_dir: Path,
) -> None:
    result = run_cli(
        "invoke", "authorizer", "-e", "events/authorizer.json", "--tenant", "acme", "--user", "bob@acme",
        state_dir=state_dir,
    )  # fmt: skip

    context = json.loads(result.stdout)["context"]
    assert (context["tenant"], context["user"], context["is_admin"]) == ("acme", "bob@acme", False)


def test_given_a_function_that_logs_when_invoked_then_stdout_is_only_its_json_result_and_logs_go_to_stderr(
    state_dir: Path,
) -> None:
    result = run_cli("invoke", "callback", "-e", "events/callback.json", state_dir=state_dir)

    response = json.loads(result.stdout)  # the whole of stdout is one JSON document
    log_lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert result.returncode == 0, result.stderr
    assert response["statusCode"] in (302, 303, 400)
    assert any(
        r.get("message", "").startswith("callback: ") and r["function_name"] == "oauth-broker-callback"
        for r in log_lines
    ), result.stderr


def test_given_an_unknown_function_when_invoked_then_one_line_and_exit_code_2(state_dir: Path) -> None:
    result = run_cli("invoke", "nope", "-e", "events/api.json", state_dir=state_dir)

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(
        "oauth-broker: unknown function 'nope'; one of: api, authorize, authorizer"
    )
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), ("{not json", "is not valid JSON: ")],
)
def test_given_a_missing_or_invalid_event_file_when_invoked_then_one_line_and_exit_code_2(
    state_dir: Path, content: str | None, message: str
) -> None:
    event = state_dir / "event.json"
    if content is not None:
        event.write_text(content)

    result = run_cli("invoke", "api", "-e", str(event), state_dir=state_dir)

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(
        f"oauth-broker: event file {event}"
    )
    assert message in result.stderr
    assert result.stdout == ""


def test_given_a_running_dev_with_a_connection_when_the_proxy_event_is_invoked_then_it_reads_that_mailbox(
    state_dir: Path,
) -> None:
    with dev_server(state_dir) as dev:
        token = admin_token(state_dir)
        with httpx.Client(base_url=dev.base_url, timeout=30) as http:
            connection_id = connect(http, token, register_client(http, token))
            expected = http.get(  # what events/proxy.json asks for
                f"/v1/connections/{connection_id}/gmail/messages",
                params={"q": "is:unread", "limit": "10"},
                headers=bearer(token),
            )
        found = run_cli(
            "invoke", "proxy", "-e", "events/proxy.json", "--replace", f"con_x={connection_id}",
            state_dir=state_dir,
        )  # fmt: skip
        named = run_cli(
            "invoke", "proxy", "-e", "events/proxy.json", "--replace", f"con_x={connection_id}",
            "--endpoint", dev.base_url, state_dir=state_dir.parent / "elsewhere",
        )  # fmt: skip
        assert dev.stop() == 0

    for result in (found, named):
        assert result.returncode == 0, result.stderr
        response = json.loads(result.stdout)
        assert response["statusCode"] == 200, response
        assert json.loads(response["body"])["data"] == expected.json()["data"]
        assert f"the running broker at {dev.base_url}" in result.stderr
    assert expected.status_code == 200 and expected.json()["data"]


def test_given_no_running_dev_when_an_endpoint_is_named_then_one_line_and_exit_code_2(
    state_dir: Path,
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"

    result = run_cli("invoke", "api", "-e", "events/api.json", "--endpoint", endpoint, state_dir=state_dir)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"oauth-broker: no oauth-broker dev answers at {endpoint} (is `make dev` running there?)"
    ]


def test_given_the_dev_token_command_when_run_without_options_then_it_is_the_banners_admin_token(
    state_dir: Path,
) -> None:
    token = admin_token(state_dir)
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

    assert (claims["tenant"], claims["sub"], claims["groups"]) == ("demo", "admin@demo", ["broker-admin"])
    assert claims["exp"] - claims["iat"] == 12 * 3600
    assert claims["iss"] == devidp.DEV_ISSUER


# -- make token / make dev-reset ------------------------------------------------------------------


def make_dry_run(*args: str) -> str:
    """The commands `make` would run (nothing runs), with USER=someone in the environment as in a
    login shell."""
    env = {**os.environ, "USER": "someone-logged-in"}
    result = subprocess.run(
        ["make", "-n", "-s", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.replace("\\\n", " ").split())


def test_given_make_token_without_variables_when_run_then_it_mints_the_banners_admin_token() -> None:
    commands = make_dry_run("token")

    assert "oauth-broker dev-token --tenant 'demo' --user 'admin@demo'" in commands
    assert "someone-logged-in" not in commands  # the login name is not taken for USER


def test_given_make_token_with_user_tenant_and_admin_when_run_then_they_reach_dev_token() -> None:
    assert "dev-token --tenant 'demo' --user 'bob@demo'" in make_dry_run("token", "USER=bob@demo")
    assert make_dry_run("token", "USER=bob@demo").endswith("--user 'bob@demo'")  # not an admin
    assert "--tenant 'acme' --user 'eve@acme' --admin" in make_dry_run(
        "token", "TENANT=acme", "USER=eve@acme", "ADMIN=1"
    )
    assert "--no-admin" in make_dry_run("token", "ADMIN=0")


def test_given_make_dev_reset_when_run_then_it_runs_the_clis_dev_reset() -> None:
    assert make_dry_run("dev-reset").endswith("oauth-broker dev-reset")
