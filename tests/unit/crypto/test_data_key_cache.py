"""DataKeyCache: bounded reuse of data keys, counted in KMS calls (moto's KMS in-process)."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from oauth_broker.crypto.envelope import DataKeyCache, EncryptionContext, Envelope

if TYPE_CHECKING:
    from conftest import KmsRecorder

SECRET = b"client-secret-GOCSPX-0123456789"
CTX = EncryptionContext(tenant="acme", record_id="ocl_01", purpose="client_secret")
OTHER_CTX = EncryptionContext(tenant="acme", record_id="ocl_02", purpose="client_secret")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def encrypted_key_of(blob: str) -> str:
    return blob.split(".")[1]


# -- encryption side --------------------------------------------------------------------------
def test_given_a_cache_when_a_context_is_encrypted_repeatedly_then_kms_generates_one_data_key(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    envelope = Envelope(kms, key_id, cache=DataKeyCache())

    for _ in range(5):
        envelope.encrypt(SECRET, CTX)

    assert recorder.count("GenerateDataKey") == 1


def test_given_no_cache_when_a_context_is_encrypted_repeatedly_then_every_encryption_gets_a_new_data_key(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    envelope = Envelope(kms, key_id)

    blobs = [envelope.encrypt(SECRET, CTX) for _ in range(3)]

    assert recorder.count("GenerateDataKey") == 3
    assert len({encrypted_key_of(blob) for blob in blobs}) == 3


def test_given_max_uses_when_a_data_key_has_encrypted_that_many_secrets_then_the_next_gets_a_new_key(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    envelope = Envelope(kms, key_id, cache=DataKeyCache(max_uses=3))
    first_three = [envelope.encrypt(SECRET, CTX) for _ in range(3)]
    assert recorder.count("GenerateDataKey") == 1

    fourth = envelope.encrypt(SECRET, CTX)

    assert recorder.count("GenerateDataKey") == 2
    assert encrypted_key_of(fourth) != encrypted_key_of(first_three[0])


def test_given_max_age_when_the_data_key_is_younger_then_it_is_reused(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    clock = FakeClock()
    envelope = Envelope(kms, key_id, cache=DataKeyCache(max_age_seconds=300), clock=clock)
    envelope.encrypt(SECRET, CTX)

    clock.now += 299.9
    envelope.encrypt(SECRET, CTX)

    assert recorder.count("GenerateDataKey") == 1


def test_given_max_age_when_the_data_key_reaches_it_then_the_next_encryption_gets_a_new_key(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    clock = FakeClock()
    envelope = Envelope(kms, key_id, cache=DataKeyCache(max_age_seconds=300), clock=clock)
    first = envelope.encrypt(SECRET, CTX)

    clock.now += 300
    second = envelope.encrypt(SECRET, CTX)

    assert recorder.count("GenerateDataKey") == 2
    assert encrypted_key_of(first) != encrypted_key_of(second)


def test_given_a_cache_when_two_contexts_are_encrypted_then_each_gets_its_own_data_key(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    envelope = Envelope(kms, key_id, cache=DataKeyCache())

    first, second = envelope.encrypt(SECRET, CTX), envelope.encrypt(SECRET, OTHER_CTX)

    assert recorder.count("GenerateDataKey") == 2
    assert encrypted_key_of(first) != encrypted_key_of(second)


def test_given_max_entries_when_more_contexts_are_cached_then_the_oldest_is_evicted(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    cache = DataKeyCache(max_entries=2)
    envelope = Envelope(kms, key_id, cache=cache)
    contexts = [EncryptionContext("acme", f"ocl_{n}", "client_secret") for n in range(3)]
    for ctx in contexts:
        envelope.encrypt(SECRET, ctx)
    assert len(cache) == 2

    envelope.encrypt(SECRET, contexts[2])  # newest: still cached
    envelope.encrypt(SECRET, contexts[0])  # oldest: evicted

    assert recorder.count("GenerateDataKey") == 4


def test_given_a_shared_cache_when_envelopes_use_different_kms_keys_then_they_never_share_a_data_key(
    kms: Any, key_id: str, other_key_id: str, recorder: KmsRecorder
) -> None:
    cache = DataKeyCache()
    blob = Envelope(kms, key_id, cache=cache).encrypt(SECRET, CTX)

    other = Envelope(kms, other_key_id, cache=cache).encrypt(SECRET, CTX)

    assert recorder.count("GenerateDataKey") == 2
    assert [call.params["KeyId"] for call in recorder.of("GenerateDataKey")] == [key_id, other_key_id]
    assert encrypted_key_of(blob) != encrypted_key_of(other)


# -- decryption side --------------------------------------------------------------------------
def test_given_a_decrypted_data_key_when_another_record_sharing_it_is_decrypted_then_kms_is_not_called(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    envelope = Envelope(kms, key_id, cache=DataKeyCache())
    first, second = envelope.encrypt(b"one", CTX), envelope.encrypt(b"two", CTX)
    envelope.decrypt(first, CTX)
    recorder.reset()

    assert envelope.decrypt(second, CTX) == b"two"
    assert envelope.decrypt(first, CTX) == b"one"

    assert recorder.calls == []


def test_given_a_fresh_cache_when_a_blob_is_decrypted_then_kms_decrypts_its_data_key_once(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    blob = Envelope(kms, key_id).encrypt(SECRET, CTX)
    envelope = Envelope(kms, key_id, cache=DataKeyCache())

    for _ in range(3):
        envelope.decrypt(blob, CTX)

    assert recorder.count("Decrypt") == 1


def test_given_a_cached_decryption_key_when_it_reaches_max_age_then_kms_is_asked_again(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    clock = FakeClock()
    blob = Envelope(kms, key_id).encrypt(SECRET, CTX)
    envelope = Envelope(kms, key_id, cache=DataKeyCache(max_age_seconds=60), clock=clock)
    envelope.decrypt(blob, CTX)

    clock.now += 60
    envelope.decrypt(blob, CTX)

    assert recorder.count("Decrypt") == 2


def test_given_a_cached_decryption_key_when_it_reaches_max_uses_then_kms_is_asked_again(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    blob = Envelope(kms, key_id).encrypt(SECRET, CTX)
    envelope = Envelope(kms, key_id, cache=DataKeyCache(max_uses=2))

    for _ in range(3):
        envelope.decrypt(blob, CTX)

    assert recorder.count("Decrypt") == 2


def test_given_a_cached_decryption_key_when_the_context_differs_then_the_cache_is_not_used_and_kms_refuses(
    kms: Any, key_id: str, recorder: KmsRecorder
) -> None:
    from oauth_broker.crypto.envelope import DecryptionError

    envelope = Envelope(kms, key_id, cache=DataKeyCache())
    blob = envelope.encrypt(SECRET, CTX)
    envelope.decrypt(blob, CTX)
    recorder.reset()

    with pytest.raises(DecryptionError):
        envelope.decrypt(blob, OTHER_CTX)

    assert recorder.count("Decrypt") == 1


def test_given_a_cached_decryption_key_when_another_kms_key_decrypts_then_the_cache_is_not_used(
    kms: Any, key_id: str, other_key_id: str, recorder: KmsRecorder
) -> None:
    from oauth_broker.crypto.envelope import DecryptionError

    cache = DataKeyCache()
    blob = Envelope(kms, key_id).encrypt(SECRET, CTX)
    Envelope(kms, key_id, cache=cache).decrypt(blob, CTX)
    recorder.reset()

    with pytest.raises(DecryptionError):
        Envelope(kms, other_key_id, cache=cache).decrypt(blob, CTX)

    assert recorder.count("Decrypt") == 1


# -- counters, clearing, bounds ---------------------------------------------------------------
def test_given_a_cache_when_keys_are_reused_then_hits_and_misses_are_counted(kms: Any, key_id: str) -> None:
    cache = DataKeyCache()
    envelope = Envelope(kms, key_id, cache=cache)
    blob = envelope.encrypt(SECRET, CTX)  # miss
    envelope.encrypt(SECRET, CTX)  # hit
    envelope.decrypt(blob, CTX)  # miss
    envelope.decrypt(blob, CTX)  # hit

    assert (cache.hits, cache.misses) == (2, 2)


def test_given_cached_keys_when_the_cache_is_cleared_then_their_buffers_are_zeroed_and_it_is_empty() -> None:
    cache = DataKeyCache()
    encrypt_key, decrypt_key = bytearray(b"\x11" * 32), bytearray(b"\x22" * 32)
    cache.put_for_encrypt("k", CTX, encrypt_key, b"edk-1", now=0.0)
    cache.put_for_decrypt("k", b"edk-2", CTX, decrypt_key, now=0.0)

    cache.clear()

    assert encrypt_key == bytearray(32)
    assert decrypt_key == bytearray(32)
    assert len(cache) == 0
    assert cache.get_for_encrypt("k", CTX, now=0.0) is None


def test_given_a_cached_key_when_it_is_evicted_then_its_buffer_is_zeroed() -> None:
    cache = DataKeyCache(max_entries=1)
    evicted = bytearray(b"\x33" * 32)
    cache.put_for_encrypt("k", CTX, evicted, b"edk-1", now=0.0)

    cache.put_for_encrypt("k", OTHER_CTX, bytearray(b"\x44" * 32), b"edk-2", now=1.0)

    assert evicted == bytearray(32)


def test_given_a_handed_out_key_when_the_cache_is_cleared_then_the_caller_copy_is_intact() -> None:
    cache = DataKeyCache()
    cache.put_for_encrypt("k", CTX, bytearray(b"\x55" * 32), b"edk", now=0.0)
    handed_out = cache.get_for_encrypt("k", CTX, now=0.0)

    cache.clear()

    assert handed_out == (b"\x55" * 32, b"edk")


@pytest.mark.parametrize(
    "kwargs", [{"max_age_seconds": 0}, {"max_uses": 0}, {"max_entries": 0}], ids=["age", "uses", "entries"]
)
def test_given_a_non_positive_bound_when_a_cache_is_created_then_it_is_refused(
    kwargs: dict[str, Any],
) -> None:
    with pytest.raises(ValueError):
        DataKeyCache(**kwargs)


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Make the interpreter switch threads often, so that an unlocked read-modify-write races."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_given_many_threads_sharing_a_cache_when_they_take_keys_then_no_data_key_exceeds_max_uses() -> None:
    cache = DataKeyCache(max_uses=5)
    uses: Counter[bytes] = Counter()
    counter_lock = threading.Lock()
    next_key = iter(range(1_000_000))

    def work() -> None:
        mine: list[bytes] = []
        for _ in range(4000):
            found = cache.get_for_encrypt("k", CTX, now=0.0)
            if found is None:
                with counter_lock:
                    n = next(next_key)
                encrypted_key = b"edk-%d" % n
                cache.put_for_encrypt("k", CTX, bytearray(n.to_bytes(32, "big")), encrypted_key, now=0.0)
                mine.append(encrypted_key)
            else:
                mine.append(found[1])
        with counter_lock:
            uses.update(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(uses.values()) == 8 * 4000
    assert max(uses.values()) <= 5


def test_given_a_key_on_its_last_allowed_use_when_taken_then_it_leaves_the_cache_zeroed() -> None:
    cache = DataKeyCache(max_uses=2)
    key = bytearray(b"\x66" * 32)
    cache.put_for_encrypt("k", CTX, key, b"edk", now=0.0)

    assert cache.get_for_encrypt("k", CTX, now=0.0) == (b"\x66" * 32, b"edk")
    assert len(cache) == 0
    assert key == bytearray(32)


def test_given_a_cached_key_when_another_is_put_for_the_same_context_then_the_first_is_zeroed() -> None:
    cache = DataKeyCache()
    first, second = bytearray(b"\x77" * 32), bytearray(b"\x88" * 32)
    cache.put_for_encrypt("k", CTX, first, b"edk-1", now=0.0)

    cache.put_for_encrypt("k", CTX, second, b"edk-2", now=0.0)

    assert first == bytearray(32)
    assert len(cache) == 1
    assert cache.get_for_encrypt("k", CTX, now=0.0) == (b"\x88" * 32, b"edk-2")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_age_seconds": 0}, "max_age_seconds must be positive"),
        ({"max_uses": 0}, "max_uses must be at least 1"),
        ({"max_entries": 0}, "max_entries must be at least 1"),
    ],
    ids=["age", "uses", "entries"],
)
def test_given_a_bound_below_its_minimum_when_a_cache_is_created_then_the_message_names_it(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        DataKeyCache(**kwargs)

    assert str(caught.value) == message


def test_given_the_smallest_bounds_when_a_cache_is_created_then_they_are_accepted() -> None:
    smallest = DataKeyCache(max_age_seconds=0.5, max_uses=1, max_entries=1)
    default = DataKeyCache()

    assert (smallest.max_age_seconds, smallest.max_uses, smallest.max_entries) == (0.5, 1, 1)
    assert (default.max_age_seconds, default.max_uses, default.max_entries) == (300, 1000, 1000)


def test_given_max_uses_of_one_when_a_fresh_key_is_put_then_it_is_not_kept_and_its_buffer_is_zeroed() -> None:
    cache = DataKeyCache(max_uses=1)
    key = bytearray(b"\x99" * 32)

    cache.put_for_encrypt("k", CTX, key, b"edk", now=0.0)

    assert len(cache) == 0
    assert key == bytearray(32)
