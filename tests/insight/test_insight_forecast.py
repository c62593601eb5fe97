"""Forecasts: a seeded backtest (coverage, error vs seasonal-naive), the fallbacks, the
HTTP route over real rollups, and the ``forecast`` rule kind."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.alerts.rules import Rule
from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.insight.forecast import forecast_values
from vigil.errors import InvalidParameterError
from vigil.store.alerts.queries import AlertStore

HOUR = 3600.0


def synthetic(seed: int, n: int) -> np.ndarray:
    """Trend + daily and weekly cycles + Gaussian noise (σ = 1), hourly."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return (
        20
        + rng.uniform(-0.01, 0.02) * t
        + rng.uniform(2, 5) * np.sin(2 * np.pi * t / 24 + rng.uniform(0, 6.28))
        + rng.uniform(1, 3) * np.sin(2 * np.pi * t / 168 + rng.uniform(0, 6.28))
        + rng.normal(0, 1, n)
    )


def test_backtest_coverage_is_near_nominal_and_beats_seasonal_naive():
    history, horizon = 24 * 28, 24
    inside = {0.8: [], 0.95: []}
    mae, naive_day, naive_week = [], [], []
    for seed in range(8):
        y = synthetic(seed, history + horizon)
        train, test = y[:history], y[history:]
        f = forecast_values(train, step=HOUR, horizon=horizon)
        assert f.method == "mstl_ets" and f.periods == (24, 168)
        for level in inside:
            inside[level].append(np.mean((test >= f.lower[level]) & (test <= f.upper[level])))
        mae.append(np.mean(np.abs(test - f.mean)))
        lead = np.arange(horizon)
        naive_day.append(np.mean(np.abs(test - train[history - 24 + lead % 24])))
        naive_week.append(np.mean(np.abs(test - train[history - 168 + lead % 168])))
    cover80, cover95 = np.mean(inside[0.8]), np.mean(inside[0.95])
    print(
        f"\ncoverage 80 %: {cover80:.3f}, 95 %: {cover95:.3f}; MAE {np.mean(mae):.3f} vs "
        f"seasonal-naive day {np.mean(naive_day):.3f}, week {np.mean(naive_week):.3f}"
    )
    assert 0.68 <= cover80 <= 0.92
    assert 0.86 <= cover95 <= 0.995
    assert np.mean(mae) < 0.85 * min(np.mean(naive_day), np.mean(naive_week))


def test_intervals_are_nested_and_widen():
    f = forecast_values(synthetic(1, 24 * 13), step=HOUR, horizon=48)
    assert f.method == "mstl_ets" and f.periods == (24,)  # 13 days: under two weekly cycles
    assert np.all(f.lower[0.95] <= f.lower[0.8]) and np.all(f.lower[0.8] <= f.mean)
    assert np.all(f.mean <= f.upper[0.8]) and np.all(f.upper[0.8] <= f.upper[0.95])
    width = f.upper[0.95] - f.lower[0.95]
    assert width[-1] > width[0]


def test_short_histories_fall_back_as_documented():
    short = forecast_values([5.0, 5.5, 5.2, 5.8, 6.0], step=HOUR, horizon=4)
    assert short.method == "naive"
    assert np.allclose(short.mean, 6.0)
    diffs = np.diff([5.0, 5.5, 5.2, 5.8, 6.0])
    from scipy.stats import norm

    half = norm.ppf(0.975) * np.std(diffs, ddof=1) * np.sqrt(np.arange(1, 5))
    assert np.allclose(short.upper[0.95] - short.mean, half)  # random-walk intervals
    day_and_half = forecast_values(synthetic(2, 36), step=HOUR, horizon=6)
    assert day_and_half.method == "ets"  # under two daily cycles: no seasonal part
    cycle = np.tile(np.arange(24.0), 3)
    snaive = forecast_values(cycle, step=HOUR, horizon=30, method="seasonal_naive")
    assert np.allclose(snaive.mean, np.arange(30.0) % 24)
    with pytest.raises(InvalidParameterError, match="at least 2 windows"):
        forecast_values([np.nan, 1.0, np.nan], step=HOUR, horizon=3)
    flat = forecast_values(np.full(200, 7.0), step=HOUR, horizon=3)
    assert flat.method == "constant" and np.all(flat.upper[0.95] == 7.0)
    gappy = forecast_values([1.0, np.nan, 3.0, 4.0], step=HOUR, horizon=1)
    assert gappy.n_history == 4  # the inner gap was interpolated


def _hourly_traffic(store, hours: int, per_hour, errors_per_hour=None, model="churn"):
    """Send ``per_hour(h)`` predictions in each of the ``hours`` whole hours before now."""
    ingestor = Ingestor(store)
    ingestor.register_model({"name": model, "schema": {"task": "binary_classification"}})
    end = math.floor(time.time() / HOUR) * HOUR
    sent = []
    for h in range(hours):
        ts = end - (hours - h) * HOUR + 60
        n, bad = per_hour(h), errors_per_hour(h) if errors_per_hour else 0
        recs = [
            {
                "id": f"{model}-{h}-{i}",
                "version": "1",
                "ts": ts + i,
                "inputs": {"a": i},
                "latency_s": 0.01 * (1 + (h + i) % 7),
                "outputs": 1,
                **({"error": "x"} if i < bad else {}),
            }
            for i in range(n)
        ]
        assert ingestor.ingest_predictions(model, recs).accepted == n
        sent.append(n)
    return end, sent


def test_forecast_route_over_rollups(store, server_factory):
    end, sent = _hourly_traffic(store, 72, lambda h: 12 + round(6 * math.sin(2 * math.pi * h / 24)))
    client = server_factory()
    r = client.get(
        "/api/v1/models/churn/forecast",
        params={"metric": "count", "horizon": "6h", "history": "3d", "threshold": 1000},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["history"]["values"] == sent  # the series is what was sent, hour by hour
    fc = body["forecast"]
    assert fc["method"] == "mstl_ets" and len(fc["points"]) == 6
    assert fc["points"][0]["ts"] == end
    for p in fc["points"]:
        assert p["lower_95"] <= p["lower_80"] <= p["mean"] <= p["upper_80"] <= p["upper_95"]
    # the daily cycle is carried forward: the next hours follow the same hours yesterday
    expected = [12 + round(6 * math.sin(2 * math.pi * h / 24)) for h in range(72, 78)]
    assert np.corrcoef([p["mean"] for p in fc["points"]], expected)[0, 1] > 0.9
    assert body["crossing"]["at"] is None
    assert "not expected to pass 1000" in body["crossing"]["summary"]
    for params, field in (
        ({"metric": "count", "horizon": "soon"}, "horizon"),
        ({"metric": "nope"}, "metric"),
        ({"metric": "count", "level": 0.5}, "level"),
        ({"metric": "count", "op": "=="}, "op"),
        ({"metric": "count", "step": "10s"}, "step"),
        ({"metric": "count", "step": "1m", "history": "28d"}, "step"),
    ):
        bad = client.get("/api/v1/models/churn/forecast", params=params)
        assert bad.status_code in (400, 422), (params, bad.text)
        assert field in bad.json()["error"]["message"]


def test_forecast_rule_fires_before_the_threshold_is_crossed(store):
    # error rate climbing from 1 % to 5 % over three days; the rule's threshold is 6 %
    rng = np.random.default_rng(7)
    _hourly_traffic(
        store, 72, lambda h: 100, lambda h: int(rng.binomial(100, 0.01 + 0.04 * h / 71))
    )
    rule = Rule.from_dict(
        {
            "name": "errors-ahead",
            "model": "churn",
            "kind": "forecast",
            "metric": "error_rate",
            "op": ">",
            "threshold": 0.06,
            "window": "1h",
            "horizon": "2d",
            "history": "3d",
        }
    )
    assert rule.to_dict()["horizon"] == "2d" and rule.to_dict()["level"] == 0.8
    alerts = AlertStore(store)
    alerts.put_rule(rule.to_dict())
    notes = AlertEngine(store).evaluate()
    assert [n.status for n in notes] == ["firing"]
    assert "may pass 0.06 in about" in notes[0].annotations["insight"]
    assert 0 < notes[0].value <= 2 * 86400  # seconds until the interval crosses
    firing = next(
        e for e in alerts.get_alert(notes[0].alert_id)["history"] if e["kind"] == "firing"
    )["details"]
    assert firing["forecast"]["method"] in ("ets", "mstl_ets")
    assert firing["forecast"]["points"][0]["upper_80"] is not None
    # far above the climb: nothing to say
    calm = Rule.from_dict(
        {
            "name": "calm",
            "model": "churn",
            "kind": "forecast",
            "metric": "error_rate",
            "op": ">",
            "threshold": 0.9,
            "window": "1h",
            "horizon": "6h",
            "history": "3d",
        }
    )
    alerts.put_rule(calm.to_dict())
    assert [n.rule for n in AlertEngine(store).evaluate()] == []


def test_default_history_fits_the_window():
    hourly = Rule.from_dict(
        {"name": "r", "metric": "count", "kind": "anomaly", "threshold": 4, "window": "1h"}
    )
    assert hourly.history_s == 28 * 86400
    fine = Rule.from_dict(
        {
            "name": "r",
            "metric": "count",
            "kind": "forecast",
            "op": ">",
            "threshold": 4,
            "window": "5m",
            "horizon": "1h",
        }
    )
    assert fine.history_s == 4000 * 300


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"kind": "forecast"}, "horizon"),
        ({"kind": "forecast", "horizon": "1h", "op": "=="}, "op"),
        ({"kind": "forecast", "horizon": "1h", "level": 0.5}, "level"),
        ({"kind": "forecast", "horizon": "1h", "history": "2h"}, "history"),
        ({"kind": "threshold", "horizon": "1h"}, "horizon"),
        ({"kind": "anomaly", "op": "=="}, "op"),
    ],
)
def test_rule_validation_names_the_field(spec, field):
    with pytest.raises(InvalidParameterError, match=f"'{field}'"):
        Rule.from_dict(
            {"name": "r", "metric": "error_rate", "threshold": 1, "window": "1h", **spec}
        )


def test_forecast_and_anomaly_rules_are_exported_on_their_gauges():
    from vigil.integrations.prometheus_rules import alerting_rules

    rules = [
        Rule.from_dict(
            {
                "name": "ahead",
                "metric": "error_rate",
                "kind": "forecast",
                "op": ">",
                "threshold": 0.05,
                "window": "1h",
                "horizon": "6h",
            }
        ),
        Rule.from_dict(
            {
                "name": "odd",
                "metric": "error_rate",
                "kind": "anomaly",
                "op": "!=",
                "threshold": 4,
                "window": "1h",
            }
        ),
        Rule.from_dict({"name": "plain", "metric": "error_rate", "threshold": 0.05}),
    ]
    doc, skipped = alerting_rules(rules)
    assert skipped == []
    exprs = {r["alert"]: r["expr"] for r in doc["groups"][0]["rules"]}
    assert exprs["ahead"] == 'vigil_forecast_crossing_seconds{model_version="",rule="ahead"} >= 0'
    assert exprs["odd"] == 'abs(vigil_anomaly_score{model_version="",rule="odd"}) > 4'


@pytest.mark.parametrize(
    "metric", ["count", "throughput", "error_rate", "error_rate:unknown", "latency_p95"]
)
def test_series_from_one_rollup_read_matches_the_metric_window_by_window(store, metric):
    from vigil.engine.insight.series import metric_series
    from vigil.engine.metric_sources import get_metric

    rng = np.random.default_rng(4)
    end, _ = _hourly_traffic(
        store, 10, lambda h: int(rng.integers(5, 30)), lambda h: int(rng.integers(0, 4))
    )
    model = store.get_model("churn")
    step = 1800.0  # half hours: windows that do not fall on whole hours of the data
    series = metric_series(store, model, metric, start=end - 36000, end=end, step=step)
    source = get_metric(metric)
    for ts, value in zip(series.times, series.values, strict=True):
        expected = source.compute(store, model, None, ts, ts + step)
        if expected is None:
            assert np.isnan(value), (ts, value)
        else:
            assert value == pytest.approx(expected), (ts, value, expected)
