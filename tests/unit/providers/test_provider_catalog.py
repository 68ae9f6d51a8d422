"""The provider catalog: built-in data, extra files, validation errors, scopes, custom providers."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from oauth_broker.providers.catalog import (
    CatalogIssue,
    FieldIssue,
    ProviderCatalog,
    ProviderCatalogError,
    ProviderDefinition,
    ProviderValidationError,
    ScopeComparison,
    Sensitivity,
    UnknownProvider,
    UnknownScope,
    endpoint_claims,
)

GMAIL = "https://www.googleapis.com/auth/"
MAIL_FULL = "https://mail.google.com/"


def discovery_scopes(file_name: str) -> set[str]:
    spec = importlib.util.find_spec("googleapiclient")
    assert spec is not None and spec.submodule_search_locations
    directory = Path(next(iter(spec.submodule_search_locations))) / "discovery_cache" / "documents"
    document = json.loads((directory / file_name).read_text(encoding="utf-8"))
    return set(document["auth"]["oauth2"]["scopes"])


@pytest.fixture(scope="module")
def catalog() -> ProviderCatalog:
    return ProviderCatalog.load()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path, *, allow_loopback: bool = False) -> ProviderCatalogError:
    with pytest.raises(ProviderCatalogError) as caught:
        ProviderCatalog.load(path, allow_loopback=allow_loopback)
    return caught.value


# -- the built-in catalog ----------------------------------------------------------------------------


def test_given_the_builtin_catalog_when_loaded_then_only_google_mail_and_contacts_are_connectable(
    catalog: ProviderCatalog,
) -> None:
    assert [p.key for p in catalog.connectable()] == ["google-mail", "google-contacts"]


def test_given_the_builtin_catalog_when_getting_google_then_it_is_an_abstract_base(
    catalog: ProviderCatalog,
) -> None:
    google = catalog.get("google")
    assert google.abstract is True
    assert google.connectable is False


def test_given_google_mail_when_loaded_then_it_inherits_the_google_endpoints(
    catalog: ProviderCatalog,
) -> None:
    auth = catalog.get("google-mail").auth
    assert auth.authorization_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert auth.token_url == "https://oauth2.googleapis.com/token"
    assert auth.revocation_url == "https://oauth2.googleapis.com/revoke"
    assert auth.userinfo_url == "https://openidconnect.googleapis.com/v1/userinfo"
    assert auth.issuer == "https://accounts.google.com"
    assert auth.jwks_url == "https://www.googleapis.com/oauth2/v3/certs"
    assert auth.oidc is True
    assert auth.pkce_required is True
    assert auth.token_endpoint_auth_method == "client_secret_post"


@pytest.mark.parametrize("key", ["google", "google-mail", "google-contacts"])
def test_given_google_when_loaded_then_revoking_a_token_revokes_the_whole_grant(
    catalog: ProviderCatalog, key: str
) -> None:
    assert catalog.get(key).auth.revocation_revokes_grant is True


def test_given_an_override_of_googles_endpoints_when_loading_then_the_grant_wide_revocation_is_kept(
    tmp_path: Path,
) -> None:
    # the fake Google's override: another issuer, nothing said about revocation semantics
    text = "providers:\n  google:\n    auth:\n      issuer: https://fake-google.test\n"
    catalog = ProviderCatalog.load(write(tmp_path, "p.yaml", text))
    assert catalog.get("google-mail").auth.issuer == "https://fake-google.test"
    assert catalog.get("google-mail").auth.revocation_revokes_grant is True


def test_given_google_contacts_when_loaded_then_it_asks_for_offline_access_and_granted_scopes(
    catalog: ProviderCatalog,
) -> None:
    params = catalog.get("google-contacts").auth.default_params
    assert params == {"access_type": "offline", "include_granted_scopes": "true"}


def test_given_google_when_loaded_then_testing_mode_refresh_tokens_expire_after_7_days(
    catalog: ProviderCatalog,
) -> None:
    assert catalog.get("google-mail").auth.refresh_token_policy.testing_mode_expiry_days == 7


def test_given_google_mail_when_loaded_then_its_api_surface_is_gmail(catalog: ProviderCatalog) -> None:
    api = catalog.get("google-mail").api
    assert api is not None
    assert api.base_url == "https://gmail.googleapis.com/"
    assert api.hosts == ("gmail.googleapis.com", "www.googleapis.com")
    assert api.path_prefixes == ("gmail/v1/", "upload/gmail/v1/")
    assert api.scope_table == "gmail"


def test_given_google_contacts_when_loaded_then_its_api_surface_is_people(catalog: ProviderCatalog) -> None:
    api = catalog.get("google-contacts").api
    assert api is not None
    assert (api.base_url, api.hosts, api.path_prefixes) == (
        "https://people.googleapis.com/",
        ("people.googleapis.com",),
        ("v1/",),
    )


def test_given_an_unknown_key_when_getting_it_then_unknown_provider_names_it(
    catalog: ProviderCatalog,
) -> None:
    with pytest.raises(UnknownProvider) as caught:
        catalog.get("dropbox")
    assert caught.value.key == "dropbox"


def test_given_the_gmail_discovery_document_then_every_scope_is_in_the_google_mail_catalog(
    catalog: ProviderCatalog,
) -> None:
    listed = {info.scope for info in catalog.get("google-mail").scopes}
    assert discovery_scopes("gmail.v1.json") <= listed


def test_given_the_people_discovery_document_then_every_scope_is_in_the_google_contacts_catalog(
    catalog: ProviderCatalog,
) -> None:
    listed = {info.scope for info in catalog.get("google-contacts").scopes}
    assert discovery_scopes("people.v1.json") <= listed


@pytest.mark.parametrize(
    ("scope", "sensitivity"),
    [
        (GMAIL + "gmail.send", Sensitivity.SENSITIVE),
        (GMAIL + "gmail.readonly", Sensitivity.RESTRICTED),
        (MAIL_FULL, Sensitivity.RESTRICTED),
        (GMAIL + "gmail.modify", Sensitivity.RESTRICTED),
        (GMAIL + "gmail.labels", Sensitivity.NON_SENSITIVE),
        (GMAIL + "gmail.addons.current.message.readonly", Sensitivity.SENSITIVE),
    ],
)
def test_given_a_gmail_scope_then_it_carries_googles_sensitivity_class(
    catalog: ProviderCatalog, scope: str, sensitivity: Sensitivity
) -> None:
    info = catalog.get("google-mail").scope_info(scope)
    assert info is not None
    assert info.sensitivity == sensitivity


@pytest.mark.parametrize(
    ("scope", "sensitivity"),
    [
        (GMAIL + "contacts.readonly", Sensitivity.SENSITIVE),
        (GMAIL + "user.birthday.read", Sensitivity.SENSITIVE),
        (GMAIL + "userinfo.email", Sensitivity.NON_SENSITIVE),
    ],
)
def test_given_a_people_scope_then_it_carries_googles_sensitivity_class(
    catalog: ProviderCatalog, scope: str, sensitivity: Sensitivity
) -> None:
    info = catalog.get("google-contacts").scope_info(scope)
    assert info is not None
    assert info.sensitivity == sensitivity


def test_given_google_providers_then_the_base_scopes_are_openid_email_profile_non_sensitive(
    catalog: ProviderCatalog,
) -> None:
    base = catalog.get("google-mail").base_scopes
    assert [(s.scope, s.sensitivity) for s in base] == [
        ("openid", Sensitivity.NON_SENSITIVE),
        ("email", Sensitivity.NON_SENSITIVE),
        ("profile", Sensitivity.NON_SENSITIVE),
    ]


def test_given_the_builtin_catalog_then_every_catalog_scope_has_a_short_name_and_description(
    catalog: ProviderCatalog,
) -> None:
    for provider in catalog.connectable():
        for info in provider.scopes:
            assert info.short_name and info.description, info.scope


def test_given_importing_the_scope_matcher_then_neither_pydantic_nor_yaml_is_loaded() -> None:
    code = (
        "import sys, oauth_broker.providers.scopes;"
        "print(sorted(m for m in ('pydantic', 'yaml') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# -- extra files: errors -----------------------------------------------------------------------------


def test_given_an_extra_file_with_an_http_url_when_loading_then_the_error_names_file_and_field(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "providers.yaml",
        "providers:\n  google-mail:\n    auth:\n      token_url: http://example.com/t\n",
    )
    error = load_error(path)
    assert error.issues == (
        CatalogIssue(str(path), "providers.google-mail.auth.token_url", "URL must be https"),
    )
    assert str(error) == f"{path}: providers.google-mail.auth.token_url: URL must be https"


def test_given_a_loopback_http_url_without_allow_loopback_when_loading_then_it_is_rejected(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path, "p.yaml", "providers:\n  google-mail:\n    auth:\n      token_url: http://127.0.0.1:9/t\n"
    )
    error = load_error(path)
    assert [(i.source, i.location) for i in error.issues] == [
        (str(path), "providers.google-mail.auth.token_url")
    ]


def test_given_an_extra_file_with_an_unknown_field_when_loading_then_the_error_names_file_and_field(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "p.yaml", "providers:\n  google-contacts:\n    api:\n      colour: blue\n")
    error = load_error(path)
    assert error.issues == (CatalogIssue(str(path), "providers.google-contacts.api.colour", "unknown field"),)


def test_given_an_extra_file_extending_an_unknown_base_when_loading_then_the_error_names_file_and_field(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "p.yaml", "providers:\n  acme:\n    display_name: Acme\n    extends: nope\n")
    error = load_error(path)
    assert error.issues == (
        CatalogIssue(str(path), "providers.acme.extends", "unknown base provider 'nope'"),
    )


def test_given_an_extra_file_with_an_extends_cycle_when_loading_then_the_error_names_file_and_field(
    tmp_path: Path,
) -> None:
    text = "providers:\n  a: {display_name: A, extends: b}\n  b: {display_name: B, extends: a}\n"
    path = write(tmp_path, "p.yaml", text)
    error = load_error(path)
    assert len(error.issues) == 1
    issue = error.issues[0]
    assert issue.source == str(path)
    assert issue.location in ("providers.a.extends", "providers.b.extends")
    assert "cycle" in issue.message


def test_given_a_provider_extending_itself_when_loading_then_it_is_a_cycle(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "providers:\n  a: {display_name: A, extends: a}\n")
    error = load_error(path)
    assert error.issues == (CatalogIssue(str(path), "providers.a.extends", "extends cycle: a -> a"),)


def test_given_a_duplicate_scope_when_loading_then_the_error_points_at_the_second_entry(
    tmp_path: Path,
) -> None:
    text = (
        "providers:\n  acme:\n    display_name: Acme\n    auth:\n      authorization_url: https://a.test/auth\n"
        "      token_url: https://a.test/token\n    scopes: [read, write, read]\n"
    )
    path = write(tmp_path, "p.yaml", text)
    error = load_error(path)
    assert error.issues == (
        CatalogIssue(str(path), "providers.acme.scopes[2].scope", "scope 'read' is listed twice"),
    )


def test_given_unparseable_yaml_when_loading_then_the_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "providers: [\n")
    error = load_error(path)
    assert error.issues[0].source == str(path)
    assert error.issues[0].message.startswith("cannot parse")


def test_given_a_missing_extra_file_when_loading_then_the_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    error = load_error(path)
    assert error.issues[0].source == str(path)
    assert error.issues[0].message.startswith("cannot read")


def test_given_a_document_without_providers_when_loading_then_the_error_names_the_field(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "p.yaml", "version: 1\n")
    error = load_error(path)
    assert [(i.source, i.location) for i in error.issues] == [(str(path), "providers")]


# -- extra files: merging ----------------------------------------------------------------------------


def test_given_an_override_with_allow_loopback_when_loading_then_only_the_named_field_changes(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        "providers:\n  google-mail:\n    auth:\n      token_url: http://127.0.0.1:9/token\n",
    )
    catalog = ProviderCatalog.load(path, allow_loopback=True)
    auth = catalog.get("google-mail").auth
    assert auth.token_url == "http://127.0.0.1:9/token"
    assert auth.authorization_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert auth.default_params == {"access_type": "offline", "include_granted_scopes": "true"}


def test_given_an_override_of_the_base_when_loading_then_every_provider_extending_it_inherits_it(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path, "p.yaml", "providers:\n  google:\n    auth:\n      jwks_url: http://localhost:8/certs\n"
    )
    catalog = ProviderCatalog.load(path, allow_loopback=True)
    assert catalog.get("google-contacts").auth.jwks_url == "http://localhost:8/certs"


def test_given_an_override_of_a_list_when_loading_then_the_list_is_replaced(tmp_path: Path) -> None:
    text = (
        "providers:\n  google-mail:\n    api:\n      base_url: http://127.0.0.1:9/\n"
        "      hosts: ['127.0.0.1:9']\n"
    )
    catalog = ProviderCatalog.load(write(tmp_path, "p.yaml", text), allow_loopback=True)
    api = catalog.get("google-mail").api
    assert api is not None
    assert api.hosts == ("127.0.0.1:9",)
    assert api.path_prefixes == ("gmail/v1/", "upload/gmail/v1/")


def test_given_a_json_extra_file_with_a_new_key_when_loading_then_the_provider_is_added(
    tmp_path: Path,
) -> None:
    document = {
        "providers": {
            "acme": {
                "display_name": "Acme",
                "auth": {
                    "authorization_url": "https://id.acme.test/auth",
                    "token_url": "https://id.acme.test/t",
                },
                "scopes": ["read"],
            }
        }
    }
    catalog = ProviderCatalog.load(write(tmp_path, "p.json", json.dumps(document)))
    assert [p.key for p in catalog.connectable()] == ["google-mail", "google-contacts", "acme"]
    assert catalog.get("acme").auth.token_url == "https://id.acme.test/t"


def test_given_a_new_provider_extending_google_when_loading_then_it_is_connectable_not_abstract(
    tmp_path: Path,
) -> None:
    text = "providers:\n  google-calendar:\n    display_name: Google Calendar\n    extends: google\n"
    catalog = ProviderCatalog.load(write(tmp_path, "p.yaml", text))
    calendar = catalog.get("google-calendar")
    assert calendar.abstract is False
    assert calendar.auth.issuer == "https://accounts.google.com"


# -- scopes ------------------------------------------------------------------------------------------


def test_given_short_names_when_normalizing_then_full_scopes_follow_the_base_scopes_in_order(
    catalog: ProviderCatalog,
) -> None:
    scopes = catalog.normalize_scopes("google-mail", ["gmail.send", GMAIL + "gmail.readonly", "gmail.send"])
    assert scopes == ["openid", "email", "profile", GMAIL + "gmail.send", GMAIL + "gmail.readonly"]


def test_given_the_full_mail_scope_short_name_when_normalizing_then_it_expands(
    catalog: ProviderCatalog,
) -> None:
    assert catalog.normalize_scopes("google-mail", ["mail.google.com"])[-1] == MAIL_FULL


def test_given_unknown_scopes_when_normalizing_then_unknown_scope_lists_them_all(
    catalog: ProviderCatalog,
) -> None:
    with pytest.raises(UnknownScope) as caught:
        catalog.normalize_scopes("google-mail", ["gmail.readonly", "gmail.nope", "contacts"])
    assert caught.value.scopes == ("gmail.nope", "contacts")
    assert "gmail.nope" in str(caught.value) and "contacts" in str(caught.value)


def test_given_all_requested_scopes_granted_when_comparing_then_nothing_is_missing(
    catalog: ProviderCatalog,
) -> None:
    requested = catalog.normalize_scopes("google-mail", ["gmail.readonly"])
    granted = f"openid {GMAIL}userinfo.email {GMAIL}userinfo.profile {GMAIL}gmail.readonly"
    result = catalog.compare_scopes("google-mail", requested, granted)
    assert result == ScopeComparison(
        granted=("openid", GMAIL + "userinfo.email", GMAIL + "userinfo.profile", GMAIL + "gmail.readonly"),
        missing=(),
    )
    assert result.complete is True


def test_given_a_partial_grant_when_comparing_then_the_missing_scopes_are_listed(
    catalog: ProviderCatalog,
) -> None:
    requested = catalog.normalize_scopes("google-mail", ["gmail.readonly", "gmail.send"])
    granted = ["openid", GMAIL + "userinfo.email", GMAIL + "userinfo.profile", GMAIL + "gmail.readonly"]
    result = catalog.compare_scopes("google-mail", requested, granted)
    assert result.missing == (GMAIL + "gmail.send",)
    assert result.complete is False


def test_given_the_full_mail_scope_granted_when_comparing_then_it_does_not_imply_gmail_readonly(
    catalog: ProviderCatalog,
) -> None:
    result = catalog.compare_scopes("google-mail", [GMAIL + "gmail.readonly"], [MAIL_FULL])
    assert result.missing == (GMAIL + "gmail.readonly",)


def test_given_no_scope_in_the_token_response_when_comparing_then_everything_requested_is_granted(
    catalog: ProviderCatalog,
) -> None:
    result = catalog.compare_scopes("google-mail", ["openid", GMAIL + "gmail.send"], None)
    assert result == ScopeComparison(granted=("openid", GMAIL + "gmail.send"), missing=())


def test_given_contacts_userinfo_email_when_normalizing_then_it_merges_with_the_email_base_scope(
    catalog: ProviderCatalog,
) -> None:
    assert catalog.normalize_scopes("google-contacts", ["userinfo.email"]) == ["openid", "email", "profile"]


def test_given_a_method_scope_granted_through_an_alias_then_grants_any_accepts_it(
    catalog: ProviderCatalog,
) -> None:
    contacts = catalog.get("google-contacts")
    assert contacts.grants_any(["email"], [GMAIL + "userinfo.email"]) is True
    assert contacts.grants_any(["email"], [GMAIL + "contacts.readonly"]) is False


def test_given_default_scopes_then_they_are_full_scope_strings(catalog: ProviderCatalog) -> None:
    assert catalog.get("google-mail").default_scopes == (GMAIL + "gmail.readonly", GMAIL + "gmail.send")


# -- profile and me rules ----------------------------------------------------------------------------


def test_given_a_gmail_profile_response_then_email_address_identifies_the_account(
    catalog: ProviderCatalog,
) -> None:
    profile = catalog.get("google-mail").profile
    assert profile is not None
    assert profile.path == "gmail/v1/users/me/profile"
    assert profile.email_from({"emailAddress": "ann@example.com", "messagesTotal": 3}) == "ann@example.com"


def test_given_a_people_profile_response_then_the_first_email_identifies_the_account(
    catalog: ProviderCatalog,
) -> None:
    profile = catalog.get("google-contacts").profile
    assert profile is not None
    body = {"emailAddresses": [{"value": "bob@example.com"}, {"value": "b@example.org"}]}
    assert profile.email_from(body) == "bob@example.com"
    assert profile.email_from({"names": []}) is None


@pytest.mark.parametrize(
    ("provider", "path", "broken"),
    [
        ("google-mail", "gmail/v1/users/me/messages/1", False),
        ("google-mail", "gmail/v1/users/someone@example.com/messages", True),
        ("google-contacts", "v1/people/me/connections", False),
        ("google-contacts", "v1/people/c1234/connections", True),
        ("google-contacts", "v1/people:searchContacts", False),
    ],
)
def test_given_a_proxied_path_then_users_and_people_segments_must_be_me(
    catalog: ProviderCatalog, provider: str, path: str, broken: bool
) -> None:
    api = catalog.get(provider).api
    assert api is not None
    assert (api.me_rule_violation(path) is not None) is broken


# -- custom providers --------------------------------------------------------------------------------


def custom(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": "acme",
        "display_name": "Acme",
        "auth": {
            "authorization_url": "https://id.acme.test/authorize",
            "token_url": "https://id.acme.test/token",
        },
        "api": {"base_url": "https://api.acme.test/"},
        "scopes": ["read", {"scope": "write", "sensitivity": "sensitive"}],
    }
    data.update(overrides)
    return data


def test_given_a_custom_provider_with_explicit_urls_when_validated_then_defaults_are_filled() -> None:
    provider = ProviderDefinition.from_custom(custom())
    assert provider.connectable is True
    assert provider.api is not None and provider.api.hosts == ("api.acme.test",)
    assert provider.normalize_scopes(["write"]) == ["write"]


def test_given_a_custom_oidc_provider_with_only_an_issuer_when_validated_then_it_needs_discovery() -> None:
    provider = ProviderDefinition.from_custom(custom(auth={"issuer": "https://id.acme.test", "oidc": True}))
    assert provider.auth.needs_discovery is True
    assert provider.auth.discovery_url == "https://id.acme.test/.well-known/openid-configuration"


def test_given_a_custom_provider_without_endpoints_or_issuer_when_validated_then_both_urls_are_reported() -> (
    None
):
    with pytest.raises(ProviderValidationError) as caught:
        ProviderDefinition.from_custom(custom(auth={}))
    assert [issue.location for issue in caught.value.issues] == ["auth.authorization_url", "auth.token_url"]


def test_given_a_custom_provider_with_bad_fields_when_validated_then_every_field_is_listed() -> None:
    data = custom(colour="blue", api={"base_url": "http://api.acme.test/"})
    with pytest.raises(ProviderValidationError) as caught:
        ProviderDefinition.from_custom(data)
    assert set(caught.value.issues) == {
        FieldIssue("colour", "unknown field"),
        FieldIssue("api.base_url", "URL must be https"),
    }
    assert {"field": "colour", "message": "unknown field"} in caught.value.errors()


def test_given_a_custom_provider_reserving_broker_params_when_validated_then_it_is_rejected() -> None:
    auth = {**custom()["auth"], "default_params": {"redirect_uri": "https://evil.test/"}}
    with pytest.raises(ProviderValidationError) as caught:
        ProviderDefinition.from_custom(custom(auth=auth))
    assert [issue.location for issue in caught.value.issues] == ["auth.default_params"]


def test_given_a_custom_provider_with_a_builtin_key_when_validated_by_the_catalog_then_it_is_rejected(
    catalog: ProviderCatalog,
) -> None:
    with pytest.raises(ProviderValidationError) as caught:
        catalog.validate_custom(custom(key="google-mail"))
    assert [issue.location for issue in caught.value.issues] == ["key"]


def test_given_a_custom_provider_extending_google_when_validated_by_the_catalog_then_it_inherits_google(
    catalog: ProviderCatalog,
) -> None:
    data = {
        "key": "google-calendar",
        "display_name": "Google Calendar",
        "extends": "google",
        "api": {"base_url": "https://www.googleapis.com/", "path_prefixes": ["calendar/v3/"]},
        "scopes": [{"scope": GMAIL + "calendar.readonly", "short_name": "calendar.readonly"}],
    }
    provider = catalog.validate_custom(data)
    assert provider.auth.token_url == "https://oauth2.googleapis.com/token"
    assert provider.abstract is False
    assert provider.normalize_scopes(["calendar.readonly"]) == [
        "openid",
        "email",
        "profile",
        GMAIL + "calendar.readonly",
    ]


def test_given_a_custom_provider_when_validated_then_revoking_a_token_revokes_only_that_token() -> None:
    assert ProviderDefinition.from_custom(custom()).auth.revocation_revokes_grant is False
    auth = {**custom()["auth"], "revocation_revokes_grant": True}
    assert ProviderDefinition.from_custom(custom(auth=auth)).auth.revocation_revokes_grant is True


def test_given_a_custom_provider_on_googles_issuer_when_validated_then_its_revocation_is_grant_wide() -> None:
    # Google's issuer means Google's semantics unless the definition says otherwise
    google = {"issuer": "https://accounts.google.com", "oidc": True}
    assert ProviderDefinition.from_custom(custom(auth=google)).auth.revocation_revokes_grant is True
    explicit = {**google, "revocation_revokes_grant": False}
    assert ProviderDefinition.from_custom(custom(auth=explicit)).auth.revocation_revokes_grant is False


def test_given_a_custom_provider_extending_google_when_validated_then_it_inherits_grant_wide_revocation(
    catalog: ProviderCatalog,
) -> None:
    data = {
        "key": "google-calendar",
        "display_name": "Google Calendar",
        "extends": "google",
        "api": {"base_url": "https://www.googleapis.com/", "path_prefixes": ["calendar/v3/"]},
        "scopes": [{"scope": GMAIL + "calendar.readonly", "short_name": "calendar.readonly"}],
    }
    assert catalog.validate_custom(data).auth.revocation_revokes_grant is True


def test_given_an_issuer_only_provider_when_discovery_is_applied_then_the_endpoints_are_filled() -> None:
    provider = ProviderDefinition.from_custom(custom(auth={"issuer": "https://id.acme.test", "oidc": True}))
    metadata = {
        "issuer": "https://id.acme.test",
        "authorization_endpoint": "https://id.acme.test/authorize",
        "token_endpoint": "https://id.acme.test/token",
        "jwks_uri": "https://id.acme.test/jwks",
    }
    discovered = provider.with_discovery(metadata)
    assert (discovered.auth.token_url, discovered.auth.jwks_url) == (
        "https://id.acme.test/token",
        "https://id.acme.test/jwks",
    )
    assert discovered.auth.needs_discovery is False


def test_given_a_discovery_document_for_another_issuer_when_applied_then_it_is_rejected() -> None:
    provider = ProviderDefinition.from_custom(custom(auth={"issuer": "https://id.acme.test", "oidc": True}))
    with pytest.raises(ProviderValidationError) as caught:
        provider.with_discovery({"issuer": "https://evil.test", "token_endpoint": "https://evil.test/t"})
    assert [issue.location for issue in caught.value.issues] == ["auth.issuer"]


# -- RFC 9207: who sends `iss`, and who may claim whose endpoints ------------------------------------


def test_given_the_builtin_catalog_when_loaded_then_google_and_its_children_send_iss_when_authorizing(
    catalog: ProviderCatalog,
) -> None:
    assert [p.key for p in catalog.all() if p.auth.authorization_response_iss] == [
        "google",
        "google-mail",
        "google-contacts",
    ]


def test_given_a_custom_provider_silent_on_iss_when_validated_then_it_is_not_expected_to_send_it() -> None:
    assert ProviderDefinition.from_custom(custom()).auth.authorization_response_iss is False
    auth = {**custom()["auth"], "authorization_response_iss": True}
    assert ProviderDefinition.from_custom(custom(auth=auth)).auth.authorization_response_iss is True


@pytest.mark.parametrize(
    ("supported", "expected"), [(True, True), (False, False), (None, False), ("yes", False)]
)
def test_given_discovery_metadata_when_applied_then_authorization_response_iss_follows_its_supported_flag(
    supported: object, expected: bool
) -> None:
    provider = ProviderDefinition.from_custom(custom(auth={"issuer": "https://id.acme.test", "oidc": True}))
    metadata: dict[str, object] = {
        "issuer": "https://id.acme.test",
        "authorization_endpoint": "https://id.acme.test/authorize",
        "token_endpoint": "https://id.acme.test/token",
        "jwks_uri": "https://id.acme.test/jwks",
    }
    if supported is not None:
        metadata["authorization_response_iss_parameter_supported"] = supported
    assert provider.with_discovery(metadata).auth.authorization_response_iss is expected


def test_given_a_definition_that_says_it_sends_iss_when_discovery_says_nothing_then_it_stays_expected() -> (
    None
):
    auth = {"issuer": "https://id.acme.test", "oidc": True, "authorization_response_iss": True}
    provider = ProviderDefinition.from_custom(custom(auth=auth))
    metadata = {
        "issuer": "https://id.acme.test",
        "authorization_endpoint": "https://id.acme.test/authorize",
        "token_endpoint": "https://id.acme.test/token",
        "jwks_uri": "https://id.acme.test/jwks",
    }
    assert provider.with_discovery(metadata).auth.authorization_response_iss is True


GOOGLE_AUTH = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"


@pytest.mark.parametrize(
    ("auth", "field"),
    [
        (
            {"issuer": "https://accounts.google.com", "oidc": True, "jwks_url": "https://id.acme.test/jwks"},
            "issuer",
        ),
        ({"authorization_url": GOOGLE_AUTH}, "authorization_url"),
        ({"token_url": GOOGLE_TOKEN}, "token_url"),
        ({"authorization_url": "https://ACCOUNTS.google.com:443/o/oauth2/v2/auth/?x=1"}, "authorization_url"),
        ({"token_url": "https://oauth2.googleapis.com/%74oken"}, "token_url"),
    ],
)
def test_given_a_custom_provider_naming_a_google_endpoint_when_checked_then_the_claim_names_the_field(
    catalog: ProviderCatalog, auth: dict[str, Any], field: str
) -> None:
    data = custom()
    data["auth"] = {**data["auth"], **auth}
    provider = ProviderDefinition.from_custom(data)
    issues = endpoint_claims(provider, catalog.all())
    assert [issue.location for issue in issues] == [f"auth.{field}"]
    assert "'google'" in issues[0].message


def test_given_another_custom_provider_of_the_tenant_when_its_endpoints_are_named_then_they_are_claims() -> (
    None
):
    first = ProviderDefinition.from_custom(custom())
    second = ProviderDefinition.from_custom(custom(key="acme-two"))
    issues = endpoint_claims(second, [first])
    assert [issue.location for issue in issues] == ["auth.authorization_url", "auth.token_url"]
    assert endpoint_claims(first, [first]) == []  # its own key is not another provider


def test_given_a_custom_provider_with_its_own_endpoints_when_checked_then_nothing_is_claimed(
    catalog: ProviderCatalog,
) -> None:
    assert endpoint_claims(ProviderDefinition.from_custom(custom()), catalog.all()) == []


def test_given_a_custom_provider_extending_google_unchanged_when_checked_then_it_is_google_not_a_claim(
    catalog: ProviderCatalog,
) -> None:
    data = {
        "key": "google-calendar",
        "display_name": "Google Calendar",
        "extends": "google",
        "api": {"base_url": "https://www.googleapis.com/", "path_prefixes": ["calendar/v3/"]},
        "scopes": [{"scope": GMAIL + "calendar.readonly", "short_name": "calendar.readonly"}],
    }
    provider = catalog.validate_custom(data)
    assert endpoint_claims(provider, catalog.all(), base=catalog.get("google")) == []


def test_given_a_provider_extending_google_with_another_token_endpoint_when_checked_then_the_rest_is_claimed(
    catalog: ProviderCatalog,
) -> None:
    # Google's consent screen and issuer with another token endpoint: the mix-up RFC 9207 is about
    data = {
        "key": "google-evil",
        "display_name": "Google?",
        "extends": "google",
        "auth": {"token_url": "https://evil.example/token"},
        "api": {"base_url": "https://www.googleapis.com/"},
    }
    provider = catalog.validate_custom(data)
    issues = endpoint_claims(provider, catalog.all(), base=catalog.get("google"))
    assert [issue.location for issue in issues] == ["auth.issuer", "auth.authorization_url"]
