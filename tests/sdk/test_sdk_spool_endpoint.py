"""The spool is keyed by endpoint (issue 13): batches spooled for one server are replayed
to that server only, never to another server that the next Monitor of the model names."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import orjson
import pytest
from support.servers import free_port, start_server_process, wait_ready

from vigil.sdk import MemoryTransport, Monitor
from vigil.sdk.spool import META_FILE, normalise_endpoint, spool_directory

MODEL = "spool-key"


def stored_ids(db: Path) -> set[str]:
    if not db.exists():
        return set()
    with sqlite3.connect(db) as conn:
        return {
            row[0]
            for row in conn.execute(
                "SELECT p.id FROM predictions p JOIN models m ON m.id = p.model_id "
                "WHERE m.name = ?",
                (MODEL,),
            )
        }


def kill(proc) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def test_equivalent_endpoints_share_a_folder_and_different_ones_do_not(tmp_path):
    same = {
        spool_directory(tmp_path, e, "m")
        for e in ("http://127.0.0.1:8765", "http://127.0.0.1:8765/", "HTTP://127.0.0.1:8765")
    }
    assert len(same) == 1
    others = {
        spool_directory(tmp_path, e, "m")
        for e in (
            "http://127.0.0.1:8765",
            "http://127.0.0.1:8766",
            "http://localhost:8765",
            "https://127.0.0.1:8765",
            "http://127.0.0.1:8765/staging",
        )
    }
    assert len(others) == 5
    assert spool_directory(tmp_path, "http://h", "a") != spool_directory(tmp_path, "http://h", "b")
    # a rotated password does not orphan a spool, and is never written down
    assert normalise_endpoint("postgresql+psycopg://u:old@db/v") == normalise_endpoint(
        "postgresql+psycopg://u:new@db/v"
    )
    assert "new" not in normalise_endpoint("postgresql+psycopg://u:new@db/v")


def test_a_relative_sqlite_path_is_keyed_by_the_file_it_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = normalise_endpoint("sqlite:///vigil.db")
    assert here == f"sqlite:///{tmp_path / 'vigil.db'}"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert normalise_endpoint("sqlite:///vigil.db") != here


def test_the_first_spooled_batch_names_its_folder_and_endpoint(tmp_path, caplog):
    down = MemoryTransport()
    down.down = True
    mon = Monitor(
        MODEL,
        endpoint="http://10.1.2.3:8765/",
        transport=down,
        spool_dir=tmp_path,
        max_retries=0,
        flush_interval_s=3600,
    )
    assert mon.spool_dir == spool_directory(tmp_path, "http://10.1.2.3:8765", MODEL)
    assert not mon.spool_dir.exists()  # nothing is created until something is spooled
    mon.log_prediction({"x": 1}, 1)
    with caplog.at_level(logging.WARNING, logger="vigil.sdk"):
        assert mon.flush(timeout_s=10) is False
    assert mon.close(timeout_s=10) is False
    spooled = [r.getMessage() for r in caplog.records if "spooling" in r.getMessage()]
    assert len(spooled) == 1
    assert str(mon.spool_dir) in spooled[0] and "http://10.1.2.3:8765" in spooled[0]
    meta = orjson.loads((mon.spool_dir / META_FILE).read_bytes())
    assert meta == {"endpoint": "http://10.1.2.3:8765", "model": MODEL}
    assert len(list(mon.spool_dir.glob("*.batch"))) == 1


def test_the_spool_root_comes_from_vigil_spool_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_SPOOL_DIR", str(tmp_path / "env-spool"))
    monkeypatch.setenv("VIGIL_HOME", str(tmp_path / "home"))
    mon = Monitor(MODEL, transport=MemoryTransport(), endpoint="http://127.0.0.1:1")
    assert mon.spool_dir.parent == tmp_path / "env-spool"
    mon.close(timeout_s=5)
    monkeypatch.delenv("VIGIL_SPOOL_DIR")
    mon = Monitor(MODEL, transport=MemoryTransport(), endpoint="http://127.0.0.1:1")
    assert mon.spool_dir.parent == tmp_path / "home" / "spool"
    mon.close(timeout_s=5)


@pytest.mark.parametrize("where", ["model folder", "spool_dir itself"])
def test_batches_of_an_older_vigil_are_left_alone_and_named(tmp_path, caplog, where):
    legacy = tmp_path / MODEL if where == "model folder" else tmp_path
    legacy.mkdir(exist_ok=True)
    (legacy / "00000000000000000001-00000001-00000000.batch").write_bytes(
        b'{"model":"spool-key","kind":"predictions","n":1,"gzip":false}\n{"records":[{}]}'
    )
    sink = MemoryTransport()
    with caplog.at_level(logging.WARNING, logger="vigil.sdk"):
        mon = Monitor(MODEL, transport=sink, spool_dir=tmp_path, flush_interval_s=3600)
    assert mon.flush(timeout_s=10)
    mon.close(timeout_s=10)
    assert sink.calls == 0  # their endpoint is unknown: never sent anywhere on a guess
    assert any(str(legacy) in r.getMessage() for r in caplog.records)
    assert len(list(legacy.glob("*.batch"))) == 1


@pytest.mark.integration
def test_records_spooled_for_one_server_go_to_that_server_only(tmp_path, child_env):
    root = tmp_path / "spool"
    port_a, port_b = free_port(), free_port()
    url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    db_a, db_b = tmp_path / "a.db", tmp_path / "b.db"

    # Server A is down: its records wait in A's spool.
    mon = Monitor(
        MODEL, endpoint=url_a, spool_dir=root, max_retries=0, flush_interval_s=3600, timeout_s=5
    )
    ids_a = {mon.log_prediction({"x": float(i)}, i % 2, id=f"a-{i}") for i in range(40)}
    assert mon.flush(timeout_s=30) is False
    mon.close(timeout_s=30)
    dir_a = mon.spool_dir
    assert len(list(dir_a.glob("*.batch"))) == 1

    server_b = start_server_process(f"sqlite:///{db_b}", port_b, env=child_env)
    try:
        wait_ready(url_b, proc=server_b, timeout_s=60)
        mon_b = Monitor(MODEL, endpoint=url_b, spool_dir=root, flush_interval_s=3600)
        ids_b = {mon_b.log_prediction({"x": float(i)}, 1, id=f"b-{i}") for i in range(10)}
        assert mon_b.flush(timeout_s=30)
        assert mon_b.close(timeout_s=30)
        assert mon_b.stats["replayed"] == 0
        assert mon_b.spool_dir != dir_a
    finally:
        kill(server_b)
    assert stored_ids(db_b) == ids_b  # none of A's records reached B
    assert len(list(dir_a.glob("*.batch"))) == 1  # still waiting for A

    server_a = start_server_process(f"sqlite:///{db_a}", port_a, env=child_env)
    try:
        wait_ready(url_a, proc=server_a, timeout_s=60)
        mon_a = Monitor(MODEL, endpoint=url_a + "/", spool_dir=root, flush_interval_s=3600)
        assert mon_a.flush(timeout_s=30)
        assert mon_a.close(timeout_s=30)
        assert mon_a.stats["replayed"] == 40
    finally:
        kill(server_a)
    assert stored_ids(db_a) == ids_a
    assert not list(dir_a.glob("*.batch"))


@pytest.mark.parametrize(
    ("env", "toml"),
    [
        ({}, None),
        ({"VIGIL_HOME": "h"}, None),
        ({"VIGIL_SPOOL_DIR": "s"}, None),
        ({}, 'home = "th"\n'),
        ({}, 'spool_dir = "ts"\nhome = "th"\n'),
        ({"VIGIL_HOME": "h"}, 'spool_dir = "ts"\n'),
        ({"VIGIL_SPOOL_DIR": "s"}, 'home = "th"\n'),
    ],
)
def test_the_spool_root_is_the_one_vigil_config_gives(tmp_path, monkeypatch, env, toml):
    """The SDK reads the spool's settings without pydantic; vigil.config is the oracle."""
    from vigil.config import load_settings
    from vigil.sdk.monitor import default_spool_root

    monkeypatch.chdir(tmp_path)
    for name in ("VIGIL_HOME", "VIGIL_SPOOL_DIR", "VIGIL_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if toml is not None:
        (tmp_path / "vigil.toml").write_text("[settings]\n" + toml)
    settings = load_settings()
    assert default_spool_root() == (settings.spool_dir or settings.home / "spool")
