"""The GenAI reads on each backend: numbers are taken only where the stored output holds a
non-negative JSON number, so another model's text or a negative value never breaks or
skews a sum."""

from __future__ import annotations

import math
import time

import pytest

from vigil.engine.genai.metrics import genai_summary
from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.metric_sources import get_metric
from vigil.store.genai.queries import genai_columns, genai_sums


def test_only_non_negative_numbers_count(store):
    ingestor = Ingestor(store)
    ingestor.register_model({"name": "qa", "task": "text_generation"})
    now = time.time()
    records = [
        {
            "id": "a",
            "ts": now - 50,
            "latency_s": 1.0,
            "inputs": {},
            "outputs": {"input_tokens": 7, "output_tokens": 3, "cost": 0.5, "ttft_s": 0.25},
        },
        {
            "id": "b",
            "ts": now - 40,
            "inputs": {},
            "outputs": {
                "input_tokens": -5,
                "output_tokens": "many",
                "cost": "cheap",
                "ttft_s": [1],
            },
        },
        {"id": "c", "ts": now - 30, "inputs": {}, "outputs": "a plain answer"},
        {"id": "d", "ts": now - 20, "inputs": {}, "outputs": [1, 2]},
        {"id": "e", "ts": now - 10, "inputs": {}, "outputs": None, "error": "boom"},
        {"id": "f", "ts": now - 5, "inputs": {}, "outputs": {"input_tokens": 2.0, "ttft_s": 0.75}},
    ]
    assert ingestor.ingest_predictions("qa", records).accepted == 6
    model = store.get_model("qa")
    sums = genai_sums(store, model.id, now - 60, now)
    assert sums == {"calls": 6, "input_tokens": 9.0, "output_tokens": 3.0, "cost": 0.5}
    columns = genai_columns(store, model.id, now - 60, now)
    assert columns["version"] == ["default"] * 6
    assert columns["error"].tolist() == [False] * 4 + [True, False]
    assert [None if math.isnan(v) else v for v in columns["ttft_s"]] == [
        0.25,
        None,
        None,
        None,
        None,
        0.75,
    ]
    assert math.isnan(columns["latency_s"][1]) and columns["latency_s"][0] == 1.0
    summary = genai_summary(store, model, start=now - 60, end=now, step=60)["summary"]
    assert (
        summary["calls"],
        summary["errors"],
        summary["input_tokens"],
        summary["total_tokens"],
        summary["priced_calls"],
    ) == (6, 1, 9, 12, 1)
    assert summary["ttft_p50_s"] == pytest.approx(0.5)
    assert get_metric("tokens_total").compute(store, model, None, now - 60, now) == 12.0
    assert get_metric("cost_total").compute(store, model, None, now - 60, now) == 0.5
    assert get_metric("cost_total").compute(store, model, None, now - 45, now) is None
    assert get_metric("tokens_input").compute(store, model, "other", now - 60, now) is None
    empty = genai_summary(store, model, start=now - 3600, end=now - 600)
    assert empty["series"] == [] and empty["summary"]["calls"] == 0
    assert empty["summary"]["ttft_p95_s"] is None and empty["versions"] == {}


def test_rule_metrics_are_none_for_other_tasks(store):
    ingestor = Ingestor(store)
    ingestor.register_model({"name": "churn", "task": "binary_classification"})
    now = time.time()
    ingestor.ingest_predictions(
        "churn",
        [
            {
                "id": f"c{i}",
                "ts": now - 10,
                "inputs": {"prompt": "q"},
                "outputs": {"output": "a", "input_tokens": 3, "ttft_s": 0.1},
            }
            for i in range(6)
        ],
    )
    model = store.get_model("churn")
    for name in ("tokens_total", "cost_total", "ttft_p95", "answers_relevance_mean"):
        assert get_metric(name).compute(store, model, None, now - 60, now) is None, name
    # the summary reads any model's numbers when asked
    summary = genai_summary(store, model, start=now - 60, end=now)["summary"]
    assert summary["input_tokens"] == 18
