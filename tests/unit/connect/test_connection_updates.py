"""Connection metadata: a JSON Merge Patch (RFC 7396), capped at 4 KB serialized."""

from __future__ import annotations

from oauth_broker.connect.connection_updates import MAX_METADATA_BYTES, merge_patch, metadata_size


def test_given_stored_metadata_when_a_patch_sets_and_removes_keys_then_they_are_merged():
    stored = {"crm_id": "42", "team": {"name": "sales", "size": 3}, "old": True}
    patch = {"team": {"size": 4}, "old": None, "plan": "pro"}
    assert merge_patch(stored, patch) == {"crm_id": "42", "team": {"name": "sales", "size": 4}, "plan": "pro"}


def test_given_a_patch_with_a_list_when_merged_then_the_list_replaces_the_stored_one():
    assert merge_patch({"tags": ["a", "b"]}, {"tags": ["c"]}) == {"tags": ["c"]}


def test_given_metadata_when_sized_then_it_counts_utf8_bytes_of_compact_json():
    assert metadata_size({"a": "é"}) == len('{"a":"é"}'.encode())
    assert metadata_size({"k": "x" * (MAX_METADATA_BYTES - 8)}) == MAX_METADATA_BYTES
