"""`prompt`: a space-separated subset of `none consent select_account`."""

from __future__ import annotations

import pytest

from oauth_broker.connect.sessions import normalize_prompt
from oauth_broker.errors import ValidationFailed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("consent", "consent"),
        ("select_account consent", "select_account consent"),
        ("consent  consent", "consent"),
        ("none", "none"),
    ],
)
def test_given_a_valid_prompt_when_normalized_then_it_is_kept_deduplicated(value, expected):
    assert normalize_prompt(value) == expected


@pytest.mark.parametrize("value", ["login", "consent,select_account", "none consent", "CONSENT"])
def test_given_an_invalid_prompt_when_normalized_then_it_is_a_validation_error_naming_the_field(value):
    with pytest.raises(ValidationFailed) as err:
        normalize_prompt(value)
    assert err.value.extra["errors"][0]["loc"] == ["body", "prompt"]
