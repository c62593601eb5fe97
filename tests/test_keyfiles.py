"""Key files made once: racing creators all end up with the one key that was written."""

from __future__ import annotations

import stat
import threading

from vigil.keyfiles import create_once


def test_racing_creators_all_get_the_one_key_written(tmp_path):
    path = tmp_path / "keys" / "exports.key"
    start = threading.Barrier(16)
    results: list[bytes] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        start.wait()
        key = create_once(path, bytes([i]) * 32)
        with lock:
            results.append(key)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16
    assert set(results) == {path.read_bytes()}
    assert len(path.read_bytes()) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["exports.key"]  # no temporaries left


def test_an_existing_key_is_kept(tmp_path):
    path = tmp_path / "k"
    path.write_bytes(b"old")
    assert create_once(path, b"new") == b"old"
    assert path.read_bytes() == b"old"
