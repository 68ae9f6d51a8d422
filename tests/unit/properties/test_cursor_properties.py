"""Properties of pagination cursors: a cursor is a position in the caller's own listing and nothing
else. Any tampered cursor (random text, random bytes, bit flips of a real one, another partition's
cursor, a start key of the wrong shape) is refused with 422 `validation_error`, or is a well-formed
position in the same partition, from which a listing returns that partition's items only.

Cursors are not signed: a flip inside a key value can leave a well-formed cursor of the same
partition, which is accepted (it moves the caller within their own listing, nowhere else).

The listing runs on moto (in-process, no sockets), two tenants and two owners seeded once.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from oauth_broker.auth.principal import Principal
from oauth_broker.errors import ValidationFailed
from oauth_broker.store.connections import ConnectionStore
from oauth_broker.store.cursor import decode_cursor, encode_cursor
from oauth_broker.store.models import ConnectionRecord
from oauth_broker.store.table import Table

PROFILE = settings.get_profile("broker-properties")

MINE = ("tenant_pk", "TENANT#acme#CON")
THEIRS = ("tenant_pk", "TENANT#globex#CON")


def _key(tenant: str, created: str, connection_id: str) -> dict[str, str]:
    return {
        "pk": f"CON#{connection_id}",
        "sk": "CON",
        "tenant_pk": f"TENANT#{tenant}#CON",
        "tenant_sk": f"CON#{created}#{connection_id}",
    }


VALID_KEY = _key("acme", "2026-01-01T00:00:03Z", "con_acme3")
OTHER_KEY = _key("globex", "2026-01-01T00:00:03Z", "con_globex3")
# A page of alice's own listing (the ByOwner index).
OWNER_KEY = {
    "pk": "CON#con_acme3",
    "sk": "CON",
    "owner_pk": "TENANT#acme#USER#alice",
    "owner_sk": "CON#2026-01-01T00:00:03Z#con_acme3",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# -- strategies -------------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from([MINE[1], THEIRS[1], "", "CON"])
    | st.sampled_from([1024, 1025, 2049]).map(lambda size: "x" * size),  # at and over DynamoDB's limits
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
_key_names = st.sampled_from(["pk", "sk", "tenant_pk", "tenant_sk", "owner_pk", "owner_sk", "x", ""])


@st.composite
def _start_keys(draw: st.DrawFn) -> dict[str, object]:
    """A start key near the real one: attributes dropped, added, renamed or given other values."""
    key: dict[str, object] = dict(draw(st.sampled_from([VALID_KEY, OTHER_KEY, OWNER_KEY])))
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["drop", "add", "set"]))
        name = draw(_key_names)
        if action == "drop":
            key.pop(name, None)
        else:
            key[name] = draw(_json_values)
    if draw(st.booleans()):
        key["tenant_pk"] = MINE[1]
    if draw(st.booleans()):
        key["owner_pk"] = OWNER_KEY["owner_pk"]
    return key


@st.composite
def _bit_flips(draw: st.DrawFn) -> str:
    """A real cursor of this partition with one to three bits flipped in its bytes or its text."""
    real = draw(st.sampled_from([VALID_KEY, OWNER_KEY]))
    if draw(st.booleans()):
        raw = bytearray(json.dumps(real, separators=(",", ":"), sort_keys=True).encode())
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(raw) - 1))
            raw[at] ^= 1 << draw(st.integers(0, 7))
        return _b64(bytes(raw))
    text = bytearray(str(encode_cursor(real)).encode())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text) - 1))
        text[at] ^= 1 << draw(st.integers(0, 6))
    return text.decode("latin-1")


@st.composite
def _moved_keys(draw: st.DrawFn) -> str:
    """A well-formed cursor of this partition pointing anywhere: its other attributes rewritten."""
    key = dict(draw(st.sampled_from([VALID_KEY, OWNER_KEY])))
    for name in draw(
        st.lists(st.sampled_from(["pk", "sk", "tenant_sk", "owner_sk"]), min_size=1, max_size=3)
    ):
        if name in key:
            key[name] = draw(
                st.one_of(st.text(min_size=1, max_size=20), st.sampled_from(["CON#", "CON#9", "~"]))
            )
    return _b64(json.dumps(key).encode())


cursors = st.one_of(
    _moved_keys(),
    st.text(max_size=40),
    st.binary(max_size=60).map(_b64),
    st.binary(max_size=60).map(lambda data: data.decode("latin-1")),
    _json_values.map(lambda value: _b64(json.dumps(value).encode())),
    _start_keys().map(lambda key: _b64(json.dumps(key).encode())),
    _bit_flips(),
    st.just(str(encode_cursor(OTHER_KEY))),
)


# -- the pure property ------------------------------------------------------------------------------


def _is_dynamodb_start_key(key: dict[str, object]) -> bool:
    """What DynamoDB accepts as the ExclusiveStartKey of a ByTenant query: exactly the table's and
    the index's key attributes, each a non-empty string within DynamoDB's key size limits."""
    if set(key) != {"pk", "sk", "tenant_pk", "tenant_sk"}:
        return False
    limits = {"pk": 2048, "sk": 1024, "tenant_pk": 2048, "tenant_sk": 1024}
    return all(
        isinstance(value, str) and 0 < len(value.encode("utf-8", "surrogatepass")) <= limits[name]
        for name, value in key.items()
    )


@settings(PROFILE, max_examples=800)
@given(cursor=cursors)
@example(cursor=str(encode_cursor(OTHER_KEY)))
@example(cursor=_b64(json.dumps({**VALID_KEY, "tenant_sk": 1.5}).encode()))
@example(cursor=_b64(json.dumps({**VALID_KEY, "tenant_sk": None}).encode()))
@example(cursor=_b64(json.dumps({**VALID_KEY, "sk": ["CON"]}).encode()))
@example(cursor=_b64(json.dumps({"tenant_pk": MINE[1]}).encode()))
@example(cursor=_b64(json.dumps({**VALID_KEY, "extra": "x"}).encode()))
@example(cursor=_b64(json.dumps({**VALID_KEY, "tenant_sk": "x" * 1100}).encode()))
@example(cursor=_b64(b'{"pk":"CON#a","sk":"CON","tenant_pk":"TENANT#acme#CON","tenant_sk":NaN}'))
def test_given_any_cursor_when_decoded_then_it_is_refused_or_is_a_start_key_of_this_partition(cursor: str):
    try:
        start = decode_cursor(cursor, partition_attr=MINE[0], partition_value=MINE[1])
    except ValidationFailed as refused:
        assert refused.status == 422
        assert refused.code == "validation_error"
        event("refused")
        return
    if not cursor:  # no cursor: the first page
        assert start is None
        return
    event("accepted")
    assert start is not None
    assert start["tenant_pk"] == MINE[1]
    assert _is_dynamodb_start_key(start)


def test_given_the_cursor_of_the_next_page_when_decoded_then_it_is_the_start_key_again():
    assert (
        decode_cursor(encode_cursor(VALID_KEY), partition_attr=MINE[0], partition_value=MINE[1]) == VALID_KEY
    )


# -- through the store: never another partition's items --------------------------------------------


def _connection(tenant: str, owner: str, index: int) -> ConnectionRecord:
    return ConnectionRecord(
        id=f"con_{tenant}{index}",
        tenant=tenant,
        owner=owner,
        name=f"Connection {index}",
        provider="google-mail",
        oauth_client_id="ocl_1",
        created_at=f"2026-01-01T00:00:0{index}Z",
        updated_at=f"2026-01-01T00:00:0{index}Z",
    )


@pytest.fixture
def store(aws) -> Iterator[ConnectionStore]:
    connections = ConnectionStore(Table(aws.resources.table_name, aws.dynamodb))
    for tenant in ("acme", "globex"):
        for index in range(6):
            connections.create(_connection(tenant, "alice" if index % 2 else "bob", index))
    yield connections


ADMIN = Principal(tenant="acme", user="root", is_admin=True, via="jwt")
ALICE = Principal(tenant="acme", user="alice", is_admin=False, via="jwt")


@settings(PROFILE, max_examples=300)  # the profile allows the read-only `store` fixture
@given(cursor=cursors, principal=st.sampled_from([ADMIN, ALICE]))
@example(cursor=str(encode_cursor(OTHER_KEY)), principal=ADMIN)
@example(cursor=_b64(json.dumps({**VALID_KEY, "tenant_sk": "CON#9"}).encode()), principal=ADMIN)
def test_given_any_cursor_when_a_page_is_listed_then_it_is_refused_or_holds_only_the_callers_items(
    store: ConnectionStore, cursor: str, principal: Principal
):
    # The store is seeded once and only read here: every example sees the same items.
    try:
        items, next_cursor = store.list_for(principal, limit=2, cursor=cursor)
    except ValidationFailed as refused:
        assert refused.code == "validation_error"
        event("refused")
        return
    event("listed")
    pages = 0
    while True:
        assert all(principal.can_access(item.tenant, item.owner) for item in items)
        pages += 1
        if next_cursor is None:
            break
        assert pages <= 6  # 6 items at most, 2 a page: the listing ends
        items, next_cursor = store.list_for(principal, limit=2, cursor=next_cursor)


# -- regressions found by the properties -----------------------------------------------------------


@pytest.mark.parametrize(
    "start_key",
    [
        {**VALID_KEY, "tenant_sk": 1.5},  # the serializer: TypeError
        {**VALID_KEY, "sk": ["CON"]},  # moto / DynamoDB: not a key value
        {**VALID_KEY, "tenant_sk": None},
        {"tenant_pk": VALID_KEY["tenant_pk"]},  # DynamoDB: the start key must be a whole key
        {**VALID_KEY, "extra": "x"},
        {**VALID_KEY, "tenant_sk": "x" * 1025},  # over DynamoDB's sort key limit
    ],
)
def test_given_a_cursor_of_this_partition_but_not_a_key_when_listed_then_it_is_a_422_not_a_500(
    store: ConnectionStore, start_key: dict[str, object]
):
    with pytest.raises(ValidationFailed) as refused:
        store.list_for(ADMIN, limit=2, cursor=_b64(json.dumps(start_key).encode()))

    assert refused.value.code == "validation_error"
