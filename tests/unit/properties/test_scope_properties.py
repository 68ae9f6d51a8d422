"""Properties of the scope algebra (`ProviderDefinition.compare_scopes`, `normalize_scopes`,
`grants_any`), for the built-in providers and for generated custom ones.

The oracle is independent of `_ScopeIndex`: a scope's spellings (its full string, its short name,
its aliases) are one grant, and spellings shared between catalog entries join their grants (Google
Contacts lists `.../userinfo.email`, which is also an alias of the base scope `email`): the classes
are the connected components of "is a spelling of the same entry". Then, for requested R and
granted G (spelled any way, short and long names alike):

- credited == the scopes of G whose grant is requested or a base (identity) scope: G and (R or base);
- missing == R minus G; uncredited == G minus credited;
- normalize is idempotent, gives full catalog strings, base scopes first, the same grants.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import example, given, note, reject, settings
from hypothesis import strategies as st

from oauth_broker.providers.catalog import (
    ProviderCatalog,
    ProviderDefinition,
    ProviderValidationError,
    UnknownScope,
)

PROFILE = settings.get_profile("broker-properties")

_CATALOG = ProviderCatalog.load()
BUILT_IN = tuple(_CATALOG.connectable())


# -- the oracle -------------------------------------------------------------------------------------


class Grants:
    """Spellings -> grant classes (union-find over each catalog entry's spellings)."""

    def __init__(self, provider: ProviderDefinition) -> None:
        self.parent: dict[str, str] = {}
        self.entries = provider.all_scopes
        for info in self.entries:
            spellings = [info.scope, *([info.short_name] if info.short_name else []), *info.aliases]
            for spelling in spellings:
                self._union(info.scope, spelling)
        self.base = {self.of(info.scope) for info in provider.base_scopes}

    def _find(self, name: str) -> str:
        self.parent.setdefault(name, name)
        while self.parent[name] != name:
            name = self.parent[name]
        return name

    def _union(self, a: str, b: str) -> None:
        self.parent[self._find(b)] = self._find(a)

    def of(self, spelling: str) -> str:
        return self._find(spelling) if spelling in self.parent else f"unknown:{spelling}"

    def all_of(self, spellings: Iterable[str]) -> set[str]:
        return {self.of(spelling) for spelling in spellings}

    @property
    def spellings(self) -> list[str]:
        return sorted(self.parent)

    def full_scopes(self) -> set[str]:
        return {info.scope for info in self.entries}


def dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


# -- strategies -------------------------------------------------------------------------------------

# A small pool, so generated providers reuse names across entries (and the validator must cope).
_POOL = ["a", "b", "c", "d", "e", "https://x.example/a", "https://x.example/b", "openid", "email", "r.o"]


@st.composite
def custom_providers(draw: st.DrawFn) -> ProviderDefinition:
    def entry() -> dict[str, object]:
        item: dict[str, object] = {"scope": draw(st.sampled_from(_POOL))}
        if draw(st.booleans()):
            item["short_name"] = draw(st.sampled_from(_POOL))
        item["aliases"] = draw(st.lists(st.sampled_from(_POOL), max_size=2, unique=True))
        return item

    data = {
        "key": "custom",
        "display_name": "Custom",
        "auth": {
            "authorization_url": "https://auth.x.example/authorize",
            "token_url": "https://auth.x.example/token",
            "scope_separator": draw(st.sampled_from([" ", ","])),
        },
        "base_scopes": [entry() for _ in range(draw(st.integers(0, 2)))],
        "scopes": [entry() for _ in range(draw(st.integers(0, 4)))],
    }
    try:
        return ProviderDefinition.validate_definition(data)
    except ProviderValidationError:
        reject()


providers = st.one_of(st.sampled_from(BUILT_IN), custom_providers())


@st.composite
def scope_cases(draw: st.DrawFn) -> tuple[ProviderDefinition, list[str], list[str] | str | None]:
    provider = draw(providers)
    known = Grants(provider).spellings
    spelling = st.one_of(st.sampled_from(known), st.sampled_from(["unknown", "https://x.example/zzz"]))
    if not known:
        spelling = st.sampled_from(["unknown", "https://x.example/zzz"])
    requested = draw(st.lists(spelling, max_size=6))
    granted_list = draw(st.lists(spelling, max_size=8))
    shape = draw(st.sampled_from(["list", "string", "none"]))
    if shape == "none":
        return provider, requested, None
    if shape == "string":
        return provider, requested, provider.join_scopes(granted_list)
    return provider, requested, granted_list


def _note(provider: ProviderDefinition, *values: object) -> None:
    """The falsifying case, readable (a pydantic model's repr is long)."""
    for group in ("base_scopes", "scopes"):
        note(
            f"{provider.key}.{group}: "
            + repr(
                [
                    info.model_dump(include={"scope", "short_name", "aliases"})
                    for info in getattr(provider, group)
                ]
            )
        )
    note(f"values: {values!r}")


def _granted_list(
    provider: ProviderDefinition, requested: list[str], granted: list[str] | str | None
) -> list[str]:
    if granted is None:  # RFC 6749 §5.1: no `scope` in the token response: what was requested
        return dedupe(requested)
    if isinstance(granted, str):
        return dedupe(part for part in granted.replace(provider.auth.scope_separator, " ").split() if part)
    return dedupe(granted)


# -- properties -------------------------------------------------------------------------------------

CONTACTS = _CATALOG.get("google-contacts")
MAIL = _CATALOG.get("google-mail")


def _custom(*scopes: dict[str, object]) -> ProviderDefinition:
    return ProviderDefinition.validate_definition(
        {
            "key": "custom",
            "display_name": "Custom",
            "auth": {
                "authorization_url": "https://auth.x.example/a",
                "token_url": "https://auth.x.example/t",
            },
            "scopes": list(scopes),
        }
    )


# Found by the properties: an alias chain (`a` is an alias of c, `b` and `c` aliases of d) made `a`
# and `b` different grants although both are spellings of d's grant.
CHAIN = _custom(
    {"scope": "a"}, {"scope": "b"}, {"scope": "c", "aliases": ["a"]}, {"scope": "d", "aliases": ["b", "c"]}
)


@settings(PROFILE, max_examples=400)
@given(case=scope_cases())
@example(case=(CONTACTS, ["email"], ["https://www.googleapis.com/auth/userinfo.email"]))
@example(case=(CONTACTS, ["userinfo.email"], ["email"]))
@example(case=(MAIL, ["gmail.readonly"], "https://mail.google.com/ openid"))
@example(case=(MAIL, ["https://www.googleapis.com/auth/gmail.readonly"], ["gmail.readonly"]))
@example(case=(CHAIN, ["a", "b"], ["a"]))
@example(case=(CHAIN, ["a"], ["b"]))
def test_given_any_request_and_grant_when_compared_then_credited_is_granted_and_requested_missing_the_rest(
    case: tuple[ProviderDefinition, list[str], list[str] | str | None],
):
    provider, requested, granted = case
    _note(provider, requested, granted)
    grants = Grants(provider)
    got = _granted_list(provider, requested, granted)
    creditable = grants.all_of(requested) | grants.base

    result = provider.compare_scopes(requested, granted)

    assert list(result.granted) == [scope for scope in got if grants.of(scope) in creditable]
    assert list(result.uncredited) == [scope for scope in got if grants.of(scope) not in creditable]
    assert list(result.missing) == dedupe(
        scope for scope in requested if grants.of(scope) not in grants.all_of(got)
    )
    assert result.complete == (not result.missing)
    # Short and long names alike: the same request in its normalized (full) spelling is credited
    # with the same grants and misses the same ones.
    known = [scope for scope in requested if scope in grants.parent]
    normalized = provider.normalize_scopes(known, include_base=False)
    again = provider.compare_scopes(normalized, granted if granted is not None else known)
    credited_known = {g for g in grants.all_of(result.granted) if not g.startswith("unknown:")}
    assert grants.all_of(again.granted) - grants.base == credited_known - grants.base
    assert grants.all_of(again.missing) == grants.all_of(
        scope for scope in result.missing if scope in grants.parent
    )


@settings(PROFILE, max_examples=300)
@given(case=scope_cases(), include_base=st.booleans())
@example(case=(CONTACTS, ["userinfo.email", "email"], None), include_base=True)
def test_given_any_scopes_when_normalized_then_full_strings_of_the_same_grants_and_normalizing_is_idempotent(
    case: tuple[ProviderDefinition, list[str], list[str] | str | None], include_base: bool
):
    provider, requested, _ = case
    _note(provider, requested, include_base)
    grants = Grants(provider)
    unknown = dedupe(scope for scope in requested if scope not in grants.parent)
    try:
        normalized = provider.normalize_scopes(requested, include_base=include_base)
    except UnknownScope as refused:
        assert list(refused.scopes) == unknown
        return
    assert unknown == []

    assert normalized == dedupe(normalized)
    assert set(normalized) <= grants.full_scopes()
    base = [info.scope for info in provider.base_scopes] if include_base else []
    assert grants.all_of(normalized) == grants.all_of([*base, *requested])
    assert len(normalized) == len(grants.all_of(normalized))  # one spelling per grant
    assert provider.normalize_scopes(normalized, include_base=include_base) == normalized
    if include_base:  # the base (identity) scopes first, in the catalog's order
        base_grants = dedupe(grants.of(info.scope) for info in provider.base_scopes)
        assert [grants.of(scope) for scope in normalized[: len(base_grants)]] == base_grants


@settings(PROFILE, max_examples=300)
@given(
    case=scope_cases(),
    acceptable=st.lists(st.sampled_from(["a", "b", "email", "gmail.send", "x"]), max_size=3),
)
def test_given_any_grant_when_asked_if_it_grants_one_of_some_scopes_then_yes_exactly_when_one_shares_a_grant(
    case: tuple[ProviderDefinition, list[str], list[str] | str | None], acceptable: list[str]
):
    provider, requested, granted = case
    _note(provider, requested, granted, acceptable)
    grants = Grants(provider)
    got = _granted_list(provider, requested, granted)
    spelled = [*acceptable, *requested]

    assert provider.grants_any(got, spelled) == bool(grants.all_of(got) & grants.all_of(spelled))


# -- regressions found by the properties -----------------------------------------------------------


def test_given_an_alias_chain_when_compared_then_every_spelling_of_the_chain_is_one_grant():
    comparison = CHAIN.compare_scopes(["a"], ["b"])

    assert comparison.granted == ("b",)
    assert comparison.missing == ()
    assert CHAIN.normalize_scopes(["a", "b", "c", "d"]) == ["a"]


def test_given_an_alias_that_is_a_later_entrys_short_name_when_validated_then_it_is_refused():
    with pytest.raises(ProviderValidationError) as refused:
        _custom({"scope": "a", "aliases": ["x"]}, {"scope": "b", "short_name": "x"})

    assert [str(issue) for issue in refused.value.issues] == ["scopes[0].aliases: alias 'x' is already used"]
