"""`oauth-broker google risc-register | risc-status | risc-test` against the fake Google's RISC API,
served on 127.0.0.1 (`--api-base`), with a service account key file the fake knows."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from oauth_broker_dev import cli
from oauth_broker_dev.fake_google import FakeGoogle, FakeGoogleConfig, FakeGoogleServer
from oauth_broker_dev.fake_google.risc import EVENT_TYPES, RISC_AUDIENCE, ServiceAccount

CLIENT_ID = "cli-test.apps.googleusercontent.com"
ENDPOINT = "https://broker.example.com/v1/google/risc"


@pytest.fixture
def fake() -> FakeGoogle:
    config = FakeGoogleConfig(clients={CLIENT_ID: "secret"}, seed_mailboxes=False, seed_contacts=False)
    return FakeGoogle(config)


@pytest.fixture
def served(fake: FakeGoogle) -> Iterator[FakeGoogleServer]:
    with fake.serve() as server:
        yield server


@pytest.fixture
def key_file(fake: FakeGoogle, tmp_path: Path) -> Path:
    path = tmp_path / "risc-admin.json"
    path.write_text(json.dumps(fake.risc.service_account_key_file()))
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _google(command: str, key: Path, served: FakeGoogleServer, *extra: str) -> list[str]:
    api_base = f"{served.base_url}/risc/v1beta"
    return ["google", command, "--service-account", str(key), "--api-base", api_base, *extra]


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("oauth-broker: "), err
    return lines[0]


# ---- register, status, test ---------------------------------------------------------------------


def test_given_a_service_account_key_when_registering_then_the_stream_pushes_every_event_type_to_the_endpoint(
    fake: FakeGoogle, served: FakeGoogleServer, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, *_google("risc-register", key_file, served, "--endpoint", ENDPOINT))

    assert code == 0, err
    printed = json.loads(out)
    assert printed["delivery"]["url"] == ENDPOINT
    assert sorted(printed["events_requested"]) == sorted(EVENT_TYPES.values())
    assert fake.risc.stream is not None and fake.risc.stream.url == ENDPOINT


def test_given_short_event_names_when_registering_then_only_those_event_types_are_requested(
    fake: FakeGoogle, served: FakeGoogleServer, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _google("risc-register", key_file, served, "--endpoint", ENDPOINT, "--events", "tokens-revoked")

    code, _, err = _run(capsys, *argv, EVENT_TYPES["account-purged"])

    assert code == 0, err
    assert fake.risc.stream is not None
    assert fake.risc.stream.events_requested == [EVENT_TYPES["tokens-revoked"], EVENT_TYPES["account-purged"]]


def test_given_a_registration_when_the_cli_calls_then_its_bearer_is_googles_self_signed_service_account_jwt(
    fake: FakeGoogle, served: FakeGoogleServer, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run(capsys, *_google("risc-register", key_file, served, "--endpoint", ENDPOINT))

    calls = fake.requests_to("risc")
    assert [(c.method, c.path) for c in calls] == [
        ("POST", "/risc/v1beta/stream:update"),
        ("GET", "/risc/v1beta/stream"),
    ]
    bearer = calls[0].headers["Authorization"].removeprefix("Bearer ")
    account = fake.risc.service_account
    token = jws.deserialize_compact(bearer, account.key)
    claims = json.loads(token.payload)
    assert token.headers()["kid"] == account.key_id and token.headers()["alg"] == "RS256"
    assert claims["iss"] == claims["sub"] == account.email
    assert claims["aud"] == RISC_AUDIENCE
    assert claims["exp"] - claims["iat"] == 3600


def test_given_a_registered_stream_when_asking_its_status_then_it_prints_enabled_and_the_receiver(
    fake: FakeGoogle, served: FakeGoogleServer, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.risc.register(ENDPOINT)

    code, out, err = _run(capsys, *_google("risc-status", key_file, served))

    assert code == 0, err
    printed = json.loads(out)
    assert printed["status"] == "enabled"
    assert printed["stream"]["delivery"]["url"] == ENDPOINT


class _Receiver:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1/google/risc"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.bodies.append(Request(environ).get_data())
        return Response(status=202)(environ, start_response)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def test_given_a_registered_receiver_when_risc_test_runs_then_the_receiver_gets_a_verification_with_its_state(
    fake: FakeGoogle, served: FakeGoogleServer, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receiver = _Receiver()
    try:
        register = _google("risc-register", key_file, served, "--endpoint", receiver.url)
        assert _run(capsys, *register)[0] == 0

        code, out, err = _run(capsys, *_google("risc-test", key_file, served, "--state", "smoke 1"))
    finally:
        receiver.stop()

    assert code == 0, err
    assert json.loads(out) == {"verification_requested": True, "state": "smoke 1"}
    (body,) = receiver.bodies
    claims = json.loads(jws.deserialize_compact(body, fake.risc.keys.current).payload)
    assert claims["events"] == {EVENT_TYPES["verification"]: {"state": "smoke 1"}}


# ---- clear errors: one line, exit 2 -------------------------------------------------------------


def test_given_a_missing_key_file_when_registering_then_one_line_names_the_file_and_exit_2(
    served: FakeGoogleServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.json"

    line = _one_line_error(*_run(capsys, *_google("risc-register", missing, served, "--endpoint", ENDPOINT)))

    assert str(missing) in line and "does not exist" in line


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json {", "is not JSON"),
        (json.dumps({"type": "authorized_user", "client_id": "x"}), "not a service account key file"),
        (json.dumps({"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com"}), "lacks"),
        (
            json.dumps(
                {
                    "type": "service_account",
                    "client_email": "a@b.iam.gserviceaccount.com",
                    "private_key_id": "k1",
                    "private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
                }
            ),
            "private key cannot sign",
        ),
    ],
    ids=["not-json", "not-a-service-account", "incomplete", "bad-private-key"],
)
def test_given_an_unusable_key_file_when_registering_then_one_line_says_why_and_exit_2(
    fake: FakeGoogle,
    served: FakeGoogleServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    says: str,
) -> None:
    path = tmp_path / "key.json"
    path.write_text(content)

    line = _one_line_error(*_run(capsys, *_google("risc-register", path, served, "--endpoint", ENDPOINT)))

    assert says in line
    assert fake.requests_to("risc") == []  # nothing was sent


def test_given_a_key_google_does_not_know_when_registering_then_the_refused_token_is_one_line_and_exit_2(
    fake: FakeGoogle, served: FakeGoogleServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = RSAKey.generate_key(2048, auto_kid=True)
    stranger = ServiceAccount("stranger@elsewhere.iam.gserviceaccount.com", key)
    path = tmp_path / "stranger.json"
    path.write_text(json.dumps(stranger.key_file(fake.url("/token"))))

    line = _one_line_error(*_run(capsys, *_google("risc-register", path, served, "--endpoint", ENDPOINT)))

    assert "refused the service account's token" in line and "401" in line
    assert fake.risc.stream is None


def test_given_an_http_endpoint_when_registering_then_googles_403_is_one_line_and_exit_2(
    fake: FakeGoogle, served: FakeGoogleServer, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _google(
        "risc-register", key_file, served, "--endpoint", "http://broker.example.com/v1/google/risc"
    )

    line = _one_line_error(*_run(capsys, *argv))

    assert "403" in line and "must be an HTTPS URL" in line
    assert fake.risc.stream is None


def test_given_the_api_failing_when_asking_status_then_the_error_is_one_line_and_exit_2(
    fake: FakeGoogle, served: FakeGoogleServer, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.risc.register(ENDPOINT)
    fake.fail_next("risc", status=503)

    line = _one_line_error(*_run(capsys, *_google("risc-status", key_file, served)))

    assert "503" in line and "stream" in line


def test_given_an_unknown_event_name_when_registering_then_one_line_lists_the_known_ones_and_exit_2(
    fake: FakeGoogle, served: FakeGoogleServer, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _google("risc-register", key_file, served, "--endpoint", ENDPOINT, "--events", "password-changed")

    line = _one_line_error(*_run(capsys, *argv))

    assert "password-changed" in line and "tokens-revoked" in line
    assert fake.requests_to("risc") == []
