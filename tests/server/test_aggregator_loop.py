"""The server's aggregator loop folds ingested batches by itself and shows it on /metrics."""

from __future__ import annotations

import time

import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from support.records import record


def _samples(api) -> dict[str, float]:
    text = api.get("/metrics").text
    return {
        s.name: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name.startswith("vigil_aggregation")
    }


def test_the_loop_folds_batches_without_a_read(api, store):
    from vigil.store.ingest.aggregation import pending_count

    r = api.post(
        "/api/v1/models/churn/predictions", json={"records": [record(i) for i in range(50)]}
    )
    assert r.json()["accepted"] == 50
    assert store.recent_batches.max_rows > 0  # the server folds what it appends from memory
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        samples = _samples(api)
        if samples.get("vigil_aggregation_batches_total", 0) >= 1:
            break
        time.sleep(0.05)
    assert samples["vigil_aggregation_batches_total"] >= 1
    assert samples["vigil_aggregation_failures_total"] == 0
    assert pending_count(store) == 0
    assert samples["vigil_aggregation_pending_batches"] == 0
    with store.read() as conn:  # folded by the loop: the rollups hold the batch already
        total = conn.execute(sa.text("SELECT sum(count) FROM rollups")).scalar()
    assert total == 50
