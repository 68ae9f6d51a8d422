"""Racing PATCHes of `borrow_concurrency_from` cannot close a borrow cycle (issue 13, item 6).

Each round seeds two connections A and B and sends PATCH A -> B and PATCH B -> A from two threads.
A hook on the DynamoDB client holds each request's write until both have passed validation (both
read "nobody borrows from me, my lender borrows from nobody"): the worst interleaving, every
round. The write is one TransactWriteItems with a ConditionCheck on the lender, so one lands and
the other answers 409 `conflict`.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from brokertest.google import seed_connection

ROUNDS = 12
JOIN_SECONDS = 20


class WriteGate:
    """Holds each connection write (PutItem or TransactWriteItems on a `CON#` item) until `parties`
    requests have reached theirs; registered first, so before the suite's atomic-call lock."""

    def __init__(self, client: Any, parties: int = 2):
        self.client = client
        self.barrier = threading.Barrier(parties, timeout=5)
        self.held = 0
        self.armed = False
        self._lock = threading.Lock()
        client.meta.events.register_first("before-call.dynamodb.PutItem", self._gate)
        client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", self._gate)

    def _gate(self, params: Any = None, **_: Any) -> None:
        body = (params or {}).get("body", b"")  # the serialized request
        text = body.decode() if isinstance(body, bytes) else str(body)
        if not self.armed or '"CON#' not in text or "LEASE#" in text:
            return
        with self._lock:
            self.held += 1
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            self.barrier.reset()

    def detach(self) -> None:
        self.client.meta.events.unregister("before-call.dynamodb.PutItem", self._gate)
        self.client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", self._gate)


@pytest.fixture
def gate(cw):
    gate = WriteGate(cw.world.services.table.client)
    try:
        yield gate
    finally:
        gate.detach()


def patch_borrow(cw, con_id: str, lender: str):
    return cw.world.request(
        "PATCH",
        f"/v1/connections/{con_id}",
        token=cw.world.token(),
        json_body={"borrow_concurrency_from": lender},
    )


def race(cw, gate: WriteGate, a: str, b: str) -> list[Any]:
    answers: list[Any] = [None, None]
    gate.armed = True

    def run(i: int, con_id: str, lender: str) -> None:
        answers[i] = patch_borrow(cw, con_id, lender)

    threads = [
        threading.Thread(target=run, args=(0, a, b)),
        threading.Thread(target=run, args=(1, b, a)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
    gate.armed = False
    assert not any(t.is_alive() for t in threads), "a racing PATCH did not finish"
    return answers


def test_given_two_racing_patches_a_to_b_and_b_to_a_then_only_one_lands_and_the_other_gets_409_every_time(
    cw, gate
):
    for round_ in range(ROUNDS):
        a, _ = seed_connection(cw.world, cw.fake, owner="alice")
        b, _ = seed_connection(cw.world, cw.fake, owner="alice")

        answers = race(cw, gate, a.id, b.id)

        statuses = sorted(r.status_code for r in answers)
        assert statuses == [200, 409], (round_, [r.get_data(as_text=True) for r in answers])
        lost = next(r for r in answers if r.status_code == 409)
        assert lost.json["code"] == "conflict"
        stored_a = cw.world.services.connections.get(a.id)
        stored_b = cw.world.services.connections.get(b.id)
        edges = [stored_a.borrow_concurrency_from == b.id, stored_b.borrow_concurrency_from == a.id]
        assert edges.count(True) == 1, (round_, edges)
    # every round's two writes met at the gate: both had validated before either wrote
    assert gate.held == 2 * ROUNDS


def test_given_a_lender_that_started_borrowing_after_it_was_read_then_the_borrow_is_refused_with_409(cw):
    # The lender's ConditionCheck is evaluated at the write: a lender that borrows by then is refused
    # even though validation read it as free.
    a, _ = seed_connection(cw.world, cw.fake, owner="alice")
    b, _ = seed_connection(cw.world, cw.fake, owner="alice")
    c, _ = seed_connection(cw.world, cw.fake, owner="alice")
    store = cw.world.services.connections
    real_save_borrowing = store.save_borrowing

    def lender_borrows_meanwhile(rec, **kwargs):
        lender = store.get(b.id)
        borrowing = lender.model_copy(update={"borrow_concurrency_from": c.id})
        store.save(borrowing, expected_version=lender.version)
        return real_save_borrowing(rec, **kwargs)

    store.save_borrowing = lender_borrows_meanwhile
    try:
        resp = patch_borrow(cw, a.id, b.id)
    finally:
        del store.save_borrowing

    assert resp.status_code == 409 and resp.json["code"] == "conflict"
    assert store.get(a.id).borrow_concurrency_from is None
