"""Windowed resource series: event counts are summed, gauges such as ``host_cpu_count``
are not (a 2-core host showed 38 cores over 19 samples)."""

from __future__ import annotations

import time

from vigil.store.resources import queries as rq
from vigil.store.resources import tables as rt


def test_window_sums_event_counts_but_not_the_cpu_count(store) -> None:
    model, _ = store.upsert_model("m", "other", {"features": []})
    now = time.time() // 60 * 60
    rows = [
        {
            "version": "1",
            "host": "h",
            "pid": 1,
            "ts": now + i,
            "minute": int(now),
            "received_at": now,
            "interval_s": 1.0,
            "host_cpu_count": 2.0,
            "request_count": 3.0,
            "net_sends": 1.0,
            "client_latency_count": 5.0,
        }
        for i in range(19)
    ]
    assert rq.insert_samples(store, model, rows) == 19
    (window,) = rq.sample_windows(store, model.id, now, now + 60, 60)
    assert window["samples"] == 19
    assert window["host_cpu_count"] == 2.0
    assert (window["request_count"], window["net_sends"], window["client_latency_count"]) == (
        57.0,
        19.0,
        95.0,
    )
    summed = {f for f, aggs in rq.AGGREGATE.items() if aggs == ("sum",)}
    assert summed == rq.SUMMED <= set(rt.SAMPLE_FIELDS)
