"""Rollup reads that need no sketches do not read (nor decode) them: the SQL they send
selects no sketch column, and the numbers equal those of a full read."""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa

from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.insight.series import metric_series
from vigil.engine.metric_sources import get_metric
from vigil.engine.windows.metrics import window_metrics

SCHEMA = {"task": "regression", "features": [{"name": "x", "kind": "numeric"}]}


@pytest.fixture
def loaded(store):
    ingest = Ingestor(store)
    ingest.register_model({"name": "m", "schema": SCHEMA})
    now = time.time()
    records = [
        {
            "id": f"r{i}",
            "ts": now - 60 * (i % 30),
            "latency_s": i / 1000,
            "inputs": {"x": i},
            "error": "TimeoutError: t" if i % 4 == 0 else None,
        }
        for i in range(600)
    ]
    assert ingest.ingest_predictions("m", records).accepted == 600
    model = store.get_model("m")
    store.fold_pending(model.id)
    return store, model, now


@pytest.fixture
def selects(loaded):
    """The rollup SELECTs the store sends while the test runs (their column lists)."""
    store = loaded[0]
    seen: list[str] = []

    def spy(conn, cursor, statement, params, context, executemany):
        match = re.match(r"\s*SELECT (.*?)\s+FROM\s+(rollups|hourly_rollups)\b", statement, re.S)
        if match:
            seen.append(match.group(1))

    sa.event.listen(store.engine, "before_cursor_execute", spy)
    yield seen
    sa.event.remove(store.engine, "before_cursor_execute", spy)


def _sketch_columns(columns: str) -> set[str]:
    return {
        c
        for c in ("latency_sketch", "profile")
        if re.search(rf"\b(rollups|hourly_rollups)\.{c}\b", columns)
    }


@pytest.mark.parametrize("metric", ["count", "throughput", "error_rate", "error_rate:TimeoutError"])
def test_count_and_error_metrics_read_no_sketch(loaded, selects, metric):
    store, model, now = loaded
    value = get_metric(metric).compute(store, model, None, now - 3600, now + 60)
    assert selects and all(_sketch_columns(c) == set() for c in selects)
    if metric == "count":
        assert value == 600
    elif metric.startswith("error_rate"):
        assert value == pytest.approx(150 / 600)


def test_latency_metric_reads_the_latency_sketch_but_no_profile(loaded, selects):
    store, model, now = loaded
    p95 = get_metric("latency_p95").compute(store, model, None, now - 3600, now + 60)
    assert p95 == pytest.approx(0.57, abs=0.6 * 0.04)  # 600 values 0..0.599: rank error
    assert selects and all(_sketch_columns(c) == {"latency_sketch"} for c in selects)


def test_series_of_counts_read_no_sketch_and_match_window_metrics(loaded, selects):
    store, model, now = loaded
    begin = (now // 60 - 40) * 60
    series = metric_series(store, model, "count", start=begin, end=begin + 45 * 60, step=60)
    assert all(_sketch_columns(c) == set() for c in selects)
    selects.clear()
    windows = window_metrics(store, model, start=begin, end=begin + 45 * 60, step=60)
    assert all(_sketch_columns(c) == {"latency_sketch"} for c in selects)  # it shows p95
    by_ts = {p["ts"]: p["count"] for p in windows["series"]}
    assert [by_ts.get(int(begin + 60 * i), 0) for i in range(45)] == list(series.values)
