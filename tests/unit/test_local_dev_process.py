"""The environment `running_dev_server` gives `oauth-broker dev`: nothing that would point it at
real AWS or a real Google client, its own data directory, unbuffered output."""

from __future__ import annotations

from pathlib import Path

import pytest

from oauth_broker_dev.dev_process import dev_env


def test_given_aws_and_google_settings_in_the_environment_when_the_dev_env_is_made_then_they_are_left_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("GOOGLE_CLIENT_ID", "real.apps.googleusercontent.com")
    monkeypatch.setenv("GOOGLE_CLIENT_SECRET", "kept-by-default")
    monkeypatch.setenv("SOME_OTHER_SETTING", "kept")

    env = dev_env(tmp_path, {"LOG_LEVEL": "DEBUG"})

    assert not [k for k in env if k.startswith("AWS_")]
    assert "GOOGLE_CLIENT_ID" not in env
    assert env["GOOGLE_CLIENT_SECRET"] == "kept-by-default"
    assert env["SOME_OTHER_SETTING"] == "kept"
    assert env["BROKER_STATE_DIR"] == str(tmp_path)
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["LOG_LEVEL"] == "DEBUG"


def test_given_names_and_prefixes_to_drop_when_the_dev_env_is_made_then_exactly_those_are_left_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_CLIENT_SECRET", "s")
    monkeypatch.setenv("GOOGLE_ANYTHING", "g")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")

    env = dev_env(tmp_path, drop=(), drop_prefixes=("GOOGLE_",))

    assert "GOOGLE_CLIENT_SECRET" not in env and "GOOGLE_ANYTHING" not in env
    assert env["AWS_REGION"] == "eu-west-1"
