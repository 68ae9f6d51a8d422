"""A connection's concurrency level caps its requests in flight at the provider, across callers;
a borrower shares its lender's slots and level."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from brokertest.proxy import ALICE, problem

PROFILE = "gmail/v1/users/me/profile"


def burst(pw, calls: list[str]) -> list:
    """All `calls` (connection ids) at once, from as many threads."""
    barrier = threading.Barrier(len(calls))

    def one(con_id: str):
        barrier.wait()
        return pw.proxy(con_id, PROFILE)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def test_given_level_five_when_thirty_calls_arrive_at_once_then_at_most_five_reach_google_the_rest_get_429(
    pw,
):
    rec = pw.connect(["gmail.readonly"], concurrency_level=5)
    pw.proxy(rec, PROFILE)  # warm: token cached, resolvers built
    pw.fake.reset_concurrency()
    pw.fake.set_api_delay(1.0)

    responses = burst(pw, [rec.id] * 30)

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}
    assert pw.fake.peak_concurrency(ALICE) == 5
    assert statuses.count(200) >= 5 and statuses.count(429) >= 20
    limited = next(r for r in responses if r.status_code == 429)
    assert problem(limited)["code"] == "rate_limited" and limited.headers["Retry-After"] == "1"


def test_given_a_burst_that_is_over_when_calling_again_then_every_slot_was_released(pw):
    rec = pw.connect(["gmail.readonly"], concurrency_level=3)
    pw.fake.set_api_delay(0.3)
    burst(pw, [rec.id] * 8)
    pw.fake.set_api_delay(0)

    slots, _ = pw.services.table.query("pk = :p", {":p": f"SEM#{rec.id}"})

    assert slots == []
    assert [pw.proxy(rec, PROFILE).status_code for _ in range(3)] == [200, 200, 200]


def test_given_a_borrower_and_its_lender_when_both_are_busy_then_they_share_the_lenders_limit(pw):
    lender = pw.connect(["gmail.readonly"], concurrency_level=2)
    borrower = pw.connect(["gmail.readonly"], borrow_concurrency_from=lender.id)
    for rec in (lender, borrower):
        pw.proxy(rec, PROFILE)
    pw.fake.reset_concurrency()
    pw.fake.set_api_delay(1.0)

    responses = burst(pw, [lender.id] * 6 + [borrower.id] * 6)

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}
    assert pw.fake.peak_concurrency(ALICE) == 2
    assert statuses.count(429) >= 8
    slots, _ = pw.services.table.query("pk = :p", {":p": f"SEM#{lender.id}"})
    assert slots == []


def test_given_a_borrower_whose_lender_has_no_level_when_busy_then_it_is_not_limited(pw):
    lender = pw.connect(["gmail.readonly"])
    borrower = pw.connect(["gmail.readonly"], concurrency_level=1, borrow_concurrency_from=lender.id)
    pw.proxy(borrower, PROFILE)
    pw.fake.reset_concurrency()
    pw.fake.set_api_delay(0.5)

    statuses = [r.status_code for r in burst(pw, [borrower.id] * 4)]

    assert statuses == [200] * 4
    assert pw.fake.peak_concurrency(ALICE) == 4


def test_given_no_concurrency_level_when_many_calls_arrive_then_none_is_limited(pw):
    rec = pw.connect(["gmail.readonly"])
    pw.proxy(rec, PROFILE)
    pw.fake.reset_concurrency()
    pw.fake.set_api_delay(0.5)

    statuses = [r.status_code for r in burst(pw, [rec.id] * 8)]

    assert statuses == [200] * 8
    assert pw.fake.peak_concurrency(ALICE) == 8
