"""`make dev`'s local store on disk: moto's backends saved and restored whole (KMS key material
included), atomic saves, a snapshot that waits for requests in flight, and what counts as a write."""

from __future__ import annotations

import os
import pickle
import threading
import time
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from oauth_broker_dev.aws_local import bootstrap
from oauth_broker_dev.persistence import (
    DataDirBusy,
    DataDirClaim,
    ExtraState,
    LocalStore,
    SnapshotUnreadable,
    changes_state,
    read_running,
    write_atomically,
)


def test_given_a_table_item_and_a_kms_ciphertext_when_the_store_is_saved_and_restored_then_both_are_back(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path / "aws-state.pickle")
    with mock_aws():
        dynamodb, kms = boto3.client("dynamodb"), boto3.client("kms")
        resources = bootstrap(dynamodb, kms, boto3.client("events"), table_name="t", bus_name="b")
        dynamodb.put_item(TableName="t", Item={"pk": {"S": "client#1"}, "sk": {"S": "meta"}})
        blob = kms.encrypt(KeyId=resources.key_id, Plaintext=b"refresh-token")["CiphertextBlob"]
        store.save()
    with mock_aws():  # a fresh, empty moto: as after a restart
        assert boto3.client("dynamodb").list_tables()["TableNames"] == []
        assert store.restore() is True
        dynamodb, kms = boto3.client("dynamodb"), boto3.client("kms")

        items = dynamodb.scan(TableName="t")["Items"]
        plaintext = kms.decrypt(CiphertextBlob=blob)["Plaintext"]
        key_id = bootstrap(dynamodb, kms, boto3.client("events"), table_name="t", bus_name="b").key_id

    assert items == [{"pk": {"S": "client#1"}, "sk": {"S": "meta"}}]
    assert plaintext == b"refresh-token"
    assert key_id == resources.key_id  # the alias still names the same key: no second key made


def test_given_no_snapshot_when_restored_then_it_says_so_and_moto_stays_empty(tmp_path: Path) -> None:
    with mock_aws():
        assert LocalStore(tmp_path / "none.pickle").restore() is False
        assert boto3.client("dynamodb").list_tables()["TableNames"] == []


def test_given_a_snapshot_of_another_moto_version_when_restored_then_it_is_refused_and_can_be_set_aside(
    tmp_path: Path,
) -> None:
    path = tmp_path / "aws-state.pickle"
    path.write_bytes(pickle.dumps({"format": 1, "moto": "0.0.1", "backends": {}}))
    store = LocalStore(path)

    with pytest.raises(SnapshotUnreadable, match=r"moto 0\.0\.1"):
        store.restore()
    aside = store.set_aside()

    assert not path.exists() and aside.read_bytes().startswith(b"\x80")


def test_given_a_damaged_snapshot_when_restored_then_it_is_refused_not_half_loaded(tmp_path: Path) -> None:
    path = tmp_path / "aws-state.pickle"
    path.write_bytes(b"\x80\x05truncated")

    with pytest.raises(SnapshotUnreadable):
        LocalStore(path).restore()


def test_given_a_write_that_fails_midway_when_saving_then_the_previous_snapshot_is_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "aws-state.pickle"
    write_atomically(path, b"previous")

    def crash(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, b"new but never finished")

    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["aws-state.pickle"]  # no temp file left over
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_given_an_extra_state_when_saved_and_restored_then_its_owner_gets_it_back(tmp_path: Path) -> None:
    grants = {"g1": "refresh-1"}
    restored: list[object] = []
    with mock_aws():
        store = LocalStore(tmp_path / "s.pickle")
        store.add_extra(ExtraState("fake_google", lambda: grants, restored.append))
        store.save()
    with mock_aws():
        again = LocalStore(tmp_path / "s.pickle")
        again.restore()
        again.add_extra(ExtraState("fake_google", dict, restored.append))

    assert restored == [{"g1": "refresh-1"}]


def test_given_a_request_in_flight_when_a_snapshot_is_taken_then_it_waits_for_the_request_to_finish(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path / "s.pickle")
    order: list[str] = []
    inside = threading.Event()

    def slow_app(environ: dict, start_response: object) -> list[bytes]:
        inside.set()
        time.sleep(0.3)
        order.append("request done")
        return [b"{}"]

    app = store.middleware(slow_app)
    request = threading.Thread(
        target=app, args=({"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem"}, None)
    )
    with mock_aws():
        request.start()
        inside.wait(5)
        store.snapshot()
        order.append("snapshot taken")
        request.join(5)

    assert order == ["request done", "snapshot taken"]


@pytest.mark.parametrize(
    ("target", "writes"),
    [
        ("DynamoDB_20120810.PutItem", True),
        ("DynamoDB_20120810.TransactWriteItems", True),
        ("DynamoDB_20120810.UpdateItem", True),
        ("TrentService.CreateKey", True),
        ("AWSEvents.PutEvents", True),
        ("DynamoDB_20120810.GetItem", False),
        ("DynamoDB_20120810.Query", False),
        ("DynamoDB_20120810.DescribeTable", False),
        ("TrentService.Decrypt", False),
        ("TrentService.GenerateDataKey", False),
        # the work queue is not saved: its pollers' calls never cost a save
        ("AmazonSQS.ReceiveMessage", False),
        ("AmazonSQS.SendMessageBatch", False),
    ],
)
def test_given_an_aws_json_request_when_classified_then_only_operations_that_change_state_mark_the_store(
    target: str, writes: bool
) -> None:
    assert changes_state({"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": target}) is writes


def test_given_a_write_through_the_middleware_when_it_returns_then_the_store_is_dirty_and_a_read_is_not(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path / "s.pickle")
    app = store.middleware(lambda environ, start_response: [b"{}"])

    app({"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.GetItem"}, None)
    after_read = store._dirty.is_set()
    app({"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem"}, None)

    assert (after_read, store._dirty.is_set()) == (False, True)


def test_given_a_claimed_data_directory_when_a_second_dev_claims_it_then_it_is_told_who_runs_there(
    tmp_path: Path,
) -> None:
    first = DataDirClaim(tmp_path).acquire()
    first.publish("http://127.0.0.1:3999")
    try:
        with pytest.raises(DataDirBusy) as busy:
            DataDirClaim(tmp_path).acquire()
        assert busy.value.running == {"base_url": "http://127.0.0.1:3999", "pid": os.getpid()}
    finally:
        first.release()

    assert read_running(tmp_path) is None  # released: nothing published any more
    DataDirClaim(tmp_path).acquire().release()  # and free to claim again
