"""The predictions route hands each batch to the app's ingest threads (one on SQLite);
the SQLite pool and the server process are set for ingest."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from support.servers import thread_server

from vigil.config import load_settings
from vigil.server.app import create_app

SCHEMA = {"task": "binary_classification", "features": [{"name": "age", "kind": "numeric"}]}


def _batch(b: int, n: int = 50) -> dict:
    now = time.time()
    return {
        "records": [
            {"id": f"b{b}-{i}", "ts": now - 60 + i, "inputs": {"age": float(i)}, "outputs": i % 2}
            for i in range(n)
        ]
    }


def test_concurrent_batches_are_stored_by_the_ingest_threads(store, tmp_path):
    app = create_app(load_settings(home=tmp_path, auth="off"), store)
    expected = 1 if store.backend == "sqlite" else 2
    assert app.state.ingest_threads.size == expected
    seen: set[str] = set()
    ingest = app.state.ingestor.ingest_predictions

    def recording(*args, **kwargs):
        seen.add(threading.current_thread().name)
        return ingest(*args, **kwargs)

    app.state.ingestor.ingest_predictions = recording
    settings = load_settings(home=tmp_path, auth="off")
    with thread_server(settings, store, app) as url, httpx.Client(base_url=url) as client:
        assert (
            client.post("/api/v1/models", json={"name": "m", "schema": SCHEMA}).status_code == 201
        )
        with ThreadPoolExecutor(4) as senders:
            answers = list(
                senders.map(
                    lambda b: client.post("/api/v1/models/m/predictions", json=_batch(b)), range(8)
                )
            )
        assert [a.status_code for a in answers] == [200] * 8
        assert all(a.json()["accepted"] == 50 for a in answers)
    assert seen and all(name.startswith("vigil-ingest") for name in seen), seen
    assert len(seen) <= expected
    assert store.count("predictions") == 8 * 50


def test_the_threads_start_again_after_the_app_stopped(store, tmp_path):
    settings = load_settings(home=tmp_path, auth="off")
    app = create_app(settings, store)
    with thread_server(settings, store, app) as url, httpx.Client(base_url=url) as client:
        client.post("/api/v1/models", json={"name": "m", "schema": SCHEMA}).raise_for_status()
        assert client.post("/api/v1/models/m/predictions", json=_batch(0)).status_code == 200
    # a second run of the same app (the first one's shutdown closed its threads)
    with thread_server(settings, store, app) as url, httpx.Client(base_url=url) as client:
        r = client.post("/api/v1/models/m/predictions", json=_batch(1))
        assert r.status_code == 200 and r.json()["accepted"] == 50
    assert store.count("predictions") == 100


def test_the_sqlite_pool_hands_out_the_connection_used_last(tmp_path):
    """Last in, first out: the next checkout gets the connection just returned, whose
    page cache is warm, not the one idle longest (SQLite empties a connection's cache
    once another one has written)."""
    from vigil.store import open_store

    store = open_store(f"sqlite:///{tmp_path}/pool.db")
    try:
        first, second = store.engine.connect(), store.engine.connect()
        ids = first.connection.dbapi_connection, second.connection.dbapi_connection
        first.close()
        second.close()  # returned last
        with store.engine.connect() as again:
            assert again.connection.dbapi_connection is ids[1]
    finally:
        store.close()


def test_a_server_process_settles_the_collector_and_blas():
    """`vigil server` freezes what it built, collects the young generation rarely (a
    batch is thousands of live dicts) and runs BLAS on one thread; in a fresh process,
    as the settings are process-wide."""
    import os
    import subprocess
    import sys

    from vigil.server.app import GC_YOUNG_THRESHOLD

    code = (
        "import gc, json\n"
        "from threadpoolctl import threadpool_info\n"
        "from vigil.server.app import settle_process\n"
        "settle_process()\n"
        "blas = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "print(json.dumps([gc.get_threshold()[0], gc.get_freeze_count(), blas]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True
    )
    threshold, frozen, blas = json.loads(out.stdout)
    assert threshold == GC_YOUNG_THRESHOLD > 700
    assert frozen > 1000  # the imported modules and the app's objects
    assert blas and all(n == 1 for n in blas)
