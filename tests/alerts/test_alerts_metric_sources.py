"""The metric registry rules read: backbone metrics over real rollups, registration rules."""

from __future__ import annotations

import time

import pytest
from support.records import SCHEMA, record

from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.metric_sources import (
    get_metric,
    list_metrics,
    register_metric,
    unregister_metric,
)
from vigil.errors import InvalidParameterError


def test_backbone_metrics_over_rollups(store):
    ingestor = Ingestor(store)
    ingestor.register_model({"name": "churn", "schema": SCHEMA})
    now = time.time()
    recs = [record(i, ts=now - 30, latency_s=0.1 if i < 90 else 1.0) for i in range(100)]
    for rec in recs[:10]:
        rec["error"] = "boom"
    assert ingestor.ingest_predictions("churn", recs).accepted == 100
    model = store.get_model("churn")
    start, end = now - 600, now + 60
    values = {
        m.name: m.compute(store, model, None, start, end)
        for m in list_metrics()
        if m.name
        in {"count", "throughput", "error_rate", "latency_p50", "latency_p95", "latency_p99"}
    }
    assert values["count"] == 100
    assert values["throughput"] == pytest.approx(100 / 660)
    assert values["error_rate"] == pytest.approx(0.1)
    assert values["latency_p50"] == pytest.approx(0.1)
    assert values["latency_p99"] == pytest.approx(1.0)
    assert get_metric("count").compute(store, model, "1", start, end) == 100
    assert get_metric("count").compute(store, model, "2", start, end) == 0
    # an empty window: too little data for rates and quantiles, zero for counts
    assert get_metric("error_rate").compute(store, model, None, now - 7200, now - 3600) is None
    assert get_metric("latency_p95").compute(store, model, None, now - 7200, now - 3600) is None
    assert get_metric("throughput").compute(store, model, None, now - 7200, now - 3600) == 0


def test_register_lookup_and_errors():
    def fn(store, model, version, start, end):
        return 1

    try:
        src = register_metric("test.constant", fn, "always one", unit="ratio")
        assert get_metric("test.constant") is src
        assert src.compute(None, None, None, 0, 1) == 1.0
        assert src.to_dict() == {
            "name": "test.constant",
            "description": "always one",
            "unit": "ratio",
        }
        register_metric("test.constant", fn, "same function is fine")
        with pytest.raises(InvalidParameterError, match="already registered"):
            register_metric("test.constant", lambda *a: 2, "clash")
        register_metric("test.constant", lambda *a: 2, "replaced", replace=True)
        assert get_metric("test.constant").compute(None, None, None, 0, 1) == 2.0
    finally:
        unregister_metric("test.constant")
    with pytest.raises(InvalidParameterError, match=r"Unknown metric 'test.constant'.*count"):
        get_metric("test.constant")
    with pytest.raises(InvalidParameterError, match="lower-case"):
        register_metric("Bad Name", fn, "x")
    with pytest.raises(InvalidParameterError, match="callable"):
        register_metric("ok_name", 3, "x")
