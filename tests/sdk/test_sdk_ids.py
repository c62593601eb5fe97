"""Time-ordered ids: format, order, uniqueness across threads."""

from __future__ import annotations

import itertools
import threading
import uuid

from vigil.sdk.ids import id_at, id_time, new_id


def test_ids_are_rfc9562_version_7_uuids():
    pid = new_id()
    parsed = uuid.UUID(pid)
    assert str(parsed) == pid
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122


def test_ids_from_one_thread_strictly_increase():
    ids = [new_id() for _ in range(50_000)]
    assert all(a < b for a, b in itertools.pairwise(ids))


def test_ids_are_unique_and_per_thread_monotonic_across_threads():
    per_thread: list[list[str]] = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def work(out: list[str]) -> None:
        start.wait()
        for _ in range(20_000):
            out.append(new_id())

    threads = [threading.Thread(target=work, args=(out,)) for out in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [pid for out in per_thread for pid in out]
    assert len(set(everything)) == len(everything) == 80_000
    for out in per_thread:
        assert out == sorted(out)
        assert len(set(out)) == len(out)


def test_id_at_encodes_the_given_time_and_sorts_by_it():
    old, new = id_at(1_600_000_000.25), id_at(1_700_000_000.5)
    assert id_time(old) == 1_600_000_000.25
    assert id_time(new) == 1_700_000_000.5
    assert old < new
    assert id_at(1_600_000_000.25) != old  # same millisecond, still unique


def test_new_id_time_is_now():
    import time

    assert abs(id_time(new_id()) - time.time()) < 5
