"""Several `vigil server` processes on one database: no deadlock, exactly once, exact rollups.

Real replicas (subprocesses) on one PostgreSQL and on one SQLite file take batches of 500
from several client threads at once: overlapping and disjoint ids, two versions, records
spread over several minutes and a backfill over hours, with metric reads in between (they
fold pending batches while others ingest). Every request must be answered 200, each id
must be acknowledged as accepted exactly once across all answers and stored once, and the
rollups must equal a recount from the raw predictions table.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import sqlalchemy as sa
from support.servers import free_port, start_server_process, wait_ready

from vigil.store import open_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCHEMA = {
    "task": "regression",
    "features": [{"name": "x", "kind": "numeric"}, {"name": "c", "kind": "categorical"}],
}
BATCH = 500
THREADS = 6
BATCHES_PER_THREAD = 3


def _record(key: str, k: int, now: float, *, backfill: bool = False) -> dict:
    """The same id always carries the same content, whoever sends it."""
    h = sum(ord(ch) * (i + 1) for i, ch in enumerate(key))
    spread = (h % (180 * 60)) if backfill else (h % 7) * 60 + h % 50
    rec = {
        "id": key,
        "version": "a" if h % 2 else "b",
        "ts": now - 600 - spread,
        "latency_s": (h % 97) / 1000,
        "inputs": {"x": float(h % 13), "c": "pq"[h % 2]},
        "outputs": h % 3,
    }
    if h % 11 == 0:
        rec["error"] = "TimeoutError: upstream took too long" if h % 2 else "OOVError: token"
    return rec


def _batches(now: float) -> list[list[dict]]:
    plans = []
    for t in range(THREADS):
        for j in range(BATCHES_PER_THREAD):
            if j == 0:  # overlapping with the neighbouring thread's first batch
                keys = [f"o{k}" for k in range(t * 250, t * 250 + BATCH)]
            elif j == 1:  # disjoint
                keys = [f"d{t}-{k}" for k in range(BATCH)]
            else:  # a backfill: shared ids spread over three hours
                keys = [f"b{k}" for k in range((t % 3) * 200, (t % 3) * 200 + BATCH)]
            plan = [_record(key, k, now, backfill=j == 2) for k, key in enumerate(keys)]
            if j == 1:  # a new input appears on every replica at once
                for rec in plan:
                    rec["inputs"]["z"] = 0.5
            plans.append(plan)
    return plans


def _recount(store, model_id: int) -> dict:
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT version, ts, latency_s, error, error_type FROM predictions "
                "WHERE model_id = :m"
            ),
            {"m": model_id},
        ).all()
    out: dict = {}
    for version, ts, latency, error, _kind in rows:
        key = (version, int(ts // 60) * 60)
        acc = out.setdefault(key, [0, 0, 0, 0.0])
        acc[0] += 1
        acc[1] += error is not None
        if latency is not None:
            acc[2] += 1
            acc[3] += latency
    return out


@pytest.mark.parametrize("replicas", [2, 3])
@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_replicas_store_each_record_once_and_rollups_match_a_recount(
    backend, replicas, request, tmp_path
):
    url = (
        f"sqlite:///{tmp_path / 'shared.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    store = open_store(url)  # migrated once, before the replicas start
    procs, urls = [], []
    try:
        for _ in range(replicas):
            port = free_port()
            procs.append(
                start_server_process(
                    url,
                    port,
                    home=tmp_path,
                    env={"VIGIL_AGGREGATE_INTERVAL_S": "0.2", "VIGIL_RULES_INTERVAL_S": "0"},
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for proc, base in zip(procs, urls, strict=True):
            wait_ready(base, timeout_s=120, proc=proc)
        r = httpx.post(f"{urls[0]}/api/v1/models", json={"name": "m", "schema": SCHEMA}, timeout=60)
        assert r.status_code == 201, r.text

        now = time.time()
        plans = _batches(now)
        answers: list[tuple[int, dict, int]] = []
        lock = threading.Lock()

        def send(i: int) -> None:
            with httpx.Client(base_url=urls[i % replicas], timeout=300) as client:
                resp = client.post("/api/v1/models/m/predictions", json={"records": plans[i]})
                body = resp.json()
                with lock:
                    answers.append((resp.status_code, body, len(plans[i])))
                if i % 4 == 0:  # a read that folds pending batches while others ingest
                    m = client.get(
                        "/api/v1/models/m/metrics",
                        params={"start": now - 4 * 3600, "end": now + 60},
                    )
                    with lock:
                        answers.append((m.status_code, {}, 0))

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(send, range(len(plans))))

        bad = [(code, body) for code, body, _ in answers if code != 200]
        assert not bad, bad[:3]
        sent_ids = {rec["id"] for plan in plans for rec in plan}
        accepted = sum(body["accepted"] for _, body, n in answers if n)
        duplicates = sum(body["duplicates"] for _, body, n in answers if n)
        assert accepted == len(sent_ids)  # each id acknowledged as new exactly once
        assert accepted + duplicates == sum(len(p) for p in plans)
        model = store.get_model("m")
        assert store.count("predictions", model.id) == len(sent_ids)

        # the background loops fold what is left; a read folds the rest if they lag
        deadline = time.monotonic() + 120
        from vigil.store.ingest.aggregation import pending_count

        while pending_count(store) and time.monotonic() < deadline:
            time.sleep(0.1)
        rows = store.rollup_rows(model.id, now - 5 * 3600, now + 60)
        got = {(r.version, r.minute): r for r in rows}
        want = _recount(store, model.id)
        assert set(got) == set(want)
        for key, (count, errors, lat_n, lat_sum) in want.items():
            row = got[key]
            assert (row.count, row.errors, row.latency_count) == (count, errors, lat_n), key
            assert math.isclose(row.latency_sum, lat_sum, rel_tol=1e-9, abs_tol=1e-9), key
            assert sum((row.error_types or {}).values()) == errors
        kinds = {k for r in rows for k in (r.error_types or {})}
        assert kinds == {"TimeoutError", "OOVError"}
        history = httpx.get(f"{urls[-1]}/api/v1/models/m/schema", timeout=60).json()["history"]
        assert [(h["feature"], h["kind"]) for h in history] == [("z", "numeric")]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except Exception:
                proc.kill()
        store.close()
