"""The on-disk spool: atomic files, order, size bound, corrupt and stale files."""

from __future__ import annotations

import os
import time

import orjson
import pytest

from vigil.sdk import Spool
from vigil.sdk.spool import GZIP_MIN_BYTES


def body(n: int, pad: int = 0) -> bytes:
    return orjson.dumps({"records": [{"id": str(i), "p": "x" * pad} for i in range(n)]})


def test_batches_come_back_in_write_order(tmp_path):
    spool = Spool(tmp_path / "s")
    for i in range(20):
        assert spool.put(f"m{i}", "predictions", i + 1, body(i + 1)) == 0
    got = spool.batches()
    assert [b.model for b in got] == [f"m{i}" for i in range(20)]
    assert [b.n for b in got] == list(range(1, 21))
    assert got[3].body == body(4)
    assert spool.oldest().model == "m0"
    assert len(spool) == 20


def test_order_survives_a_new_spool_object(tmp_path):
    Spool(tmp_path).put("a", "predictions", 1, body(1))
    Spool(tmp_path).put("b", "labels", 1, b'{"labels":[]}')
    assert [(b.model, b.kind) for b in Spool(tmp_path).batches()] == [
        ("a", "predictions"),
        ("b", "labels"),
    ]


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path, monkeypatch):
    spool = Spool(tmp_path)
    spool.put("m", "predictions", 2, body(2))
    assert [p.name.endswith(".batch") for p in tmp_path.iterdir()] == [True]

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        spool.put("m", "predictions", 3, body(3))
    monkeypatch.undo()
    assert len(list(tmp_path.iterdir())) == 1  # no half-written batch, no temporary
    assert [b.n for b in spool.batches()] == [2]


def test_files_are_fsynced(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    Spool(tmp_path).put("m", "predictions", 1, body(1))
    assert len(synced) >= 2  # the file, then its folder


def test_large_bodies_are_compressed_on_disk(tmp_path):
    spool = Spool(tmp_path)
    big = body(2000, pad=40)
    assert len(big) > GZIP_MIN_BYTES
    spool.put("m", "predictions", 2000, big)
    (path,) = tmp_path.iterdir()
    assert path.stat().st_size < len(big) / 4
    assert spool.oldest().body == big


def test_the_size_bound_drops_the_oldest_and_counts_their_records(tmp_path):
    spool = Spool(tmp_path, max_bytes=1000)
    lost = [spool.put("m", "predictions", 3, body(3, pad=40)) for _ in range(8)]
    assert spool.size_bytes <= 1000
    kept = len(spool)
    assert 0 < kept < 8
    assert sum(lost) == 3 * (8 - kept)


def test_a_batch_larger_than_the_bound_is_not_written(tmp_path):
    spool = Spool(tmp_path, max_bytes=100)
    assert spool.put("m", "predictions", 7, body(7, pad=30)) == 7
    assert len(spool) == 0


def test_corrupt_files_are_removed(tmp_path):
    spool = Spool(tmp_path)
    spool.put("m", "predictions", 1, body(1))
    (tmp_path / "00000000000000000001-00000001-00000000.batch").write_bytes(b"garbage")
    assert [b.model for b in spool.batches()] == ["m"]
    assert len(list(tmp_path.iterdir())) == 1


def test_stale_temporaries_of_dead_writers_are_cleaned(tmp_path):
    stale = tmp_path / ".tmp-999999-0"
    stale.write_bytes(b"half a batch")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    Spool(tmp_path).put("m", "predictions", 1, body(1))
    assert not stale.exists()


def test_a_missing_folder_is_an_empty_spool(tmp_path):
    spool = Spool(tmp_path / "not-yet")
    assert len(spool) == 0
    assert spool.oldest() is None
    assert not (tmp_path / "not-yet").exists()
