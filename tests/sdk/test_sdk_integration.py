"""The SDK against the real vigil server and store: no mocks, real processes."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import httpx
import pytest
from support.polling import wait_until
from support.servers import free_port, start_server_process, wait_ready

from vigil.sdk import HttpTransport, Monitor

pytestmark = pytest.mark.integration

MODEL = "churn-sdk"


def features(i: int) -> dict:
    row = {f"f{j}": float(i * j % 97) for j in range(23)}
    row["plan"] = "pro" if i % 3 else "free"
    row["age"] = 20 + i % 50
    return row


def stored_counts(db: Path, model: str) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT count(*), count(DISTINCT p.id) FROM predictions p "
            "JOIN models m ON m.id = p.model_id WHERE m.name = ?",
            (model,),
        ).fetchone()


def kill(proc) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def test_a_killed_and_restarted_server_loses_nothing_and_duplicates_nothing(tmp_path, child_env):
    db = tmp_path / "vigil.db"
    url_db = f"sqlite:///{db}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server_process(url_db, port, env=child_env)
    try:
        wait_ready(url, proc=server)
        mon = Monitor(
            MODEL,
            version="7",
            endpoint=url,
            task="binary_classification",
            spool_dir=tmp_path / "spool",
            flush_interval_s=0.05,
            batch_size=200,
            max_retries=1,
            backoff_s=0.01,
            max_backoff_s=0.2,
            timeout_s=5,
        )
        predict = mon.track(lambda row: int(row["age"] > 40))
        ids = [mon.log_prediction(features(i), i % 2, proba=[0.4, 0.6]) for i in range(300)]
        for i in range(300, 600):
            predict(features(i))
        assert mon.flush(timeout_s=30)
        assert stored_counts(db, MODEL) == (600, 600)

        kill(server)  # kill -9: no graceful shutdown
        for i in range(600, 900):
            predict(features(i))
        # the sender wakes, finds the server gone and spools
        wait_until(lambda: mon.stats["spooled"] > 0, message="nothing was spooled")
        ids += [mon.log_prediction(features(i), 1) for i in range(900, 1200)]
        mon.log_label(ids[0], 1)
        assert mon.flush(timeout_s=30) is False  # nothing can be delivered now
        stats = mon.stats
        assert stats["spooled"] == 601
        assert stats["spool_files"] > 0
        assert stats["dropped_queue_full"] == 0

        server = start_server_process(url_db, port, env=child_env)
        wait_ready(url, proc=server)
        assert mon.flush(timeout_s=30)
        assert mon.close(timeout_s=30)
        stats = mon.stats
        assert stats["replayed"] == 601
        assert stats["rejected"] == 0
        assert stats["spool_files"] == 0
        assert stored_counts(db, MODEL) == (1200, 1200)  # every prediction, exactly once
        metrics = httpx.get(f"{url}/api/v1/models/{MODEL}/metrics").json()
        assert metrics["summary"]["count"] == 1200
        with sqlite3.connect(db) as conn:
            (labels,) = conn.execute("SELECT count(*) FROM labels").fetchone()
        assert labels == 1
        assert not list(mon.spool_dir.glob("*.batch"))
        assert mon.spool_dir.parent == tmp_path / "spool"
    finally:
        kill(server)


def test_a_new_process_replays_the_spool_of_one_that_died(tmp_path, child_env):
    import subprocess
    import sys
    import textwrap

    db = tmp_path / "vigil.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    spool = tmp_path / "spool"
    script = textwrap.dedent(
        f"""
        import os
        from vigil.sdk import HttpTransport, Monitor
        mon = Monitor({MODEL!r}, endpoint={url!r}, spool_dir={str(spool)!r},
                      max_retries=0, flush_interval_s=3600)
        for i in range(250):
            mon.log_prediction({{"age": i, "plan": "pro"}}, i % 2, id=f"dead-{{i}}")
        mon.flush(timeout_s=10)
        os._exit(0)  # dies without closing
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60, env=child_env)
    assert len(list(spool.glob("*/*.batch"))) == 1  # the server was never up

    server = start_server_process(f"sqlite:///{db}", port, env=child_env)
    try:
        wait_ready(url, proc=server)
        mon = Monitor(MODEL, endpoint=url, spool_dir=spool, flush_interval_s=3600)
        assert mon.flush(timeout_s=30)
        mon.close(timeout_s=30)
        assert mon.stats["replayed"] == 250
        assert stored_counts(db, MODEL) == (250, 250)
    finally:
        kill(server)


def test_local_mode_writes_to_the_store_directly(tmp_path, db_url):
    import sqlalchemy as sa

    with Monitor(
        MODEL,
        version="2",
        endpoint=db_url,
        spool_dir=tmp_path / "spool",
        task="binary_classification",
    ) as mon:
        predict = mon.track(lambda row: int(row["age"] > 40))
        for i in range(120):
            predict(features(i))
        pid = mon.log_prediction(features(1), 0)
        mon.log_label(pid, 1)
        mon.log_feedback(pid, 0.5, "meh")
        mon.log_prediction({"age": "old"}, 1)  # rejected by the schema, counted
        assert mon.flush(timeout_s=30)
        stats = mon.stats
    assert stats["sent"] == 123
    assert stats["rejected"] == 1
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:

            def one(sql: str):
                return conn.execute(sa.text(sql), {"m": MODEL}).one()

            assert one(
                "SELECT count(*), count(DISTINCT p.id) FROM predictions p JOIN models m"
                " ON m.id = p.model_id WHERE m.name = :m"
            ) == (121, 121)
            assert one("SELECT count(*) FROM labels WHERE :m = :m") == (1,)
            assert one("SELECT count(*) FROM feedback WHERE :m = :m") == (1,)
            assert one("SELECT task FROM models WHERE name = :m") == ("binary_classification",)
    finally:
        engine.dispose()


def test_http_mode_registers_sends_gzip_and_answers_rejections(tmp_path, child_env):
    db = tmp_path / "vigil.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server_process(f"sqlite:///{db}", port, env=child_env)
    try:
        wait_ready(url, proc=server)
        gzipped = HttpTransport(url, compress=True)  # loopback is not compressed by default
        with Monitor(
            MODEL, endpoint=url, spool_dir=tmp_path / "spool", transport=gzipped, batch_size=2000
        ) as mon:
            for i in range(2000):  # one ~1 MB body: gzipped on the wire
                mon.log_prediction(features(i), i % 2)
            # missing inputs are stored as null (schemas evolve); a type conflict is not
            mon.log_prediction({**features(0), "age": "old"}, 1)
            assert mon.flush(timeout_s=30)
            stats = mon.stats
        assert stats["sent"] == 2000
        assert stats["rejected"] == 1
        model = httpx.get(f"{url}/api/v1/models/{MODEL}").json()
        assert {f["name"] for f in model["schema"]["features"]} == set(features(0))
        assert stored_counts(db, MODEL) == (2000, 2000)
    finally:
        kill(server)
