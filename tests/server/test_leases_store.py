"""Job leases and rounds on both backends: takeover after expiry, fencing of a deposed
holder, each round once, a round left unfinished by a dead leader run again."""

from __future__ import annotations

import threading
import time

import pytest

from vigil.engine.leader import JOBS, Leadership
from vigil.store.leases import LeaseLostError, Leases


def test_lease_is_held_renewed_and_taken_over_with_a_higher_token(store):
    leases = Leases(store)
    assert leases.acquire("rules", "a", 10, now=100) == 1
    assert leases.acquire("rules", "b", 10, now=105) is None  # a holds it until 110
    assert leases.acquire("rules", "a", 10, now=108) == 1  # renewed until 118, same token
    assert leases.acquire("rules", "b", 10, now=117) is None
    assert leases.acquire("rules", "b", 10, now=119) == 2  # a stopped renewing
    assert leases.acquire("rules", "a", 10, now=120) is None
    assert leases.acquire("probes", "a", 10, now=120) == 1  # each job on its own
    info = {i.job: i for i in leases.all()}
    assert (info["rules"].holder, info["rules"].token) == ("b", 2)
    leases.release("b")  # a clean shutdown: the next holder need not wait
    assert leases.acquire("rules", "a", 10, now=121) == 3


def test_a_deposed_holder_cannot_finish_or_begin_rounds(store):
    leases = Leases(store)
    old = leases.acquire("rules", "a", 10, now=100)
    assert leases.begin_round("rules", "r1", old, "a", now=100)
    new = leases.acquire("rules", "b", 10, now=111)
    assert new == old + 1
    with pytest.raises(LeaseLostError):
        leases.finish_round("rules", "r1", old)
    with pytest.raises(LeaseLostError):
        leases.begin_round("rules", "r2", old, "a")
    # b redoes the round a left unfinished, once
    assert leases.begin_round("rules", "r1", new, "b")
    leases.finish_round("rules", "r1", new, position=42.0)
    assert not leases.begin_round("rules", "r1", new, "b")
    [row] = leases.rounds("rules")
    assert (row["holder"], row["token"], row["state"], row["position"]) == ("b", new, "done", 42.0)
    assert leases.last_position("rules") == 42.0
    assert leases.last_position("exports:otlp") is None


def test_sub_jobs_are_fenced_by_their_lease(store):
    leases = Leases(store)
    token = leases.acquire("exports", "a", 10, now=100)
    assert leases.begin_round("exports:otlp", "60", token, "a", now=100)
    leases.finish_round("exports:otlp", "60", token, position=120.0)
    assert leases.last_position("exports:otlp") == 120.0
    leases.acquire("exports", "b", 10, now=200)
    with pytest.raises(LeaseLostError):
        leases.begin_round("exports:otlp", "120", token, "a")


def test_failed_round_is_left_for_the_next_attempt_and_pruned_when_old(store):
    lead = Leadership(store, ["rules"], ttl_s=30, holder="a")
    lead.renew()

    def failing_round() -> None:
        with lead.round("rules", "k") as token:
            assert token == 1
            raise RuntimeError("the round failed")

    with pytest.raises(RuntimeError):
        failing_round()
    assert lead.leases.rounds("rules") == []
    with lead.round("rules", "k") as token:
        assert token == 1
    with lead.round("rules", "k") as token:
        assert token is None  # done once
    assert lead.leases.prune_rounds(time.time() + 1) == 1


def test_only_one_of_many_contenders_leads_each_job(store):
    """Eight holders renew at once from threads: every job has exactly one leader."""
    holders = [Leadership(store, JOBS, ttl_s=30, holder=f"h{i}") for i in range(8)]
    barrier = threading.Barrier(len(holders))

    def contend(h: Leadership) -> None:
        barrier.wait()
        h.renew()

    threads = [threading.Thread(target=contend, args=(h,)) for h in holders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for job in JOBS:
        assert sum(h.leads(job) for h in holders) == 1, job
    assert {i.job: i.token for i in Leases(store).all()} == dict.fromkeys(JOBS, 1)


def test_leader_that_stops_renewing_is_replaced_within_the_takeover_time(store):
    a = Leadership(store, ["probes"], ttl_s=1.5, holder="a").start()
    b = Leadership(store, ["probes"], ttl_s=1.5, holder="b").start()
    try:
        assert a.leads("probes") and not b.leads("probes")
        a._stop.set()  # a freezes: no renewal, no release (as if killed)
        frozen = time.monotonic()
        deadline = frozen + 60
        while not b.leads("probes") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert b.leads("probes")
        # a had stopped trusting its lease before b could take it
        assert not a.leads("probes")
        took = time.monotonic() - frozen
        assert took <= b.takeover_s + 5  # + scheduling slack on a loaded machine
    finally:
        a.stop()
        b.stop()


def test_periodic_runs_are_claimed_fenced_and_spaced_across_holders(store):
    leases = Leases(store)
    a = leases.acquire("probes", "a", 10, now=100)
    assert leases.claim_run("probes:p1", a, "a", 5.0, now=100) is None
    assert leases.claim_run("probes:p1", a, "a", 5.0, now=103) == 105.0  # too soon
    assert leases.claim_run("probes:p2", a, "a", 5.0, now=103) is None  # each part alone
    assert leases.claim_run("probes:p1", a, "a", 5.0, now=105) is None
    assert leases.last_position("probes:p1") == 105.0
    # b takes over; a's run, scheduled while it still led, is refused at its claim
    b = leases.acquire("probes", "b", 10, now=116)
    with pytest.raises(LeaseLostError):
        leases.claim_run("probes:p1", a, "a", 5.0, now=116)
    # b goes on from the newest claim, not from before it
    assert leases.claim_run("probes:p1", b, "b", 5.0, now=109) == 110.0
    assert leases.claim_run("probes:p1", b, "b", 5.0, now=116) is None
    assert leases.last_position("probes:p1") == 116.0
