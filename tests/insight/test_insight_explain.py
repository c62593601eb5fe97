"""Root cause: seeded scenarios with a planted cause, the HTTP route, alert history."""

from __future__ import annotations

import pytest
from insight_scenarios import EXPECTED, METRIC, SCENARIOS, T0, plant

from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.engine.alerts.rules import Rule
from vigil.engine.insight.explain import explain
from vigil.store import open_store
from vigil.store.alerts.queries import AlertStore

SEEDS = range(10)


@pytest.fixture(scope="module")
def scenario_store(tmp_path_factory):
    """One SQLite store holding every scenario and seed (model = scenario + seed)."""
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('explain')}/v.db")
    for scenario in SCENARIOS:
        for seed in SEEDS:
            plant(store, scenario, seed, f"{scenario}{seed}")
    yield store
    store.close()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_planted_cause_ranks_first_in_nine_of_ten_seeds(scenario_store, scenario):
    hits, lines = 0, []
    for seed in SEEDS:
        model = scenario_store.get_model(f"{scenario}{seed}")
        out = explain(scenario_store, model, METRIC[scenario], start=T0 + 3600, end=T0 + 7200)
        hits += out["verdict"] == EXPECTED[scenario]
        top = out["candidates"][0] if out["candidates"] else {"name": "-", "score": 0.0}
        lines.append(
            f"seed {seed}: {out['verdict']!r} (top {top['name']} "
            f"{top['score']:.2f}; change {out['change']['delta']:+.3f})"
        )
    print(f"\n{scenario}: {hits}/10 -> {EXPECTED[scenario]!r}\n  " + "\n  ".join(lines))
    assert hits >= 9, lines


def test_label_free_estimated_accuracy_points_at_the_drifted_feature(scenario_store):
    hits = 0
    for seed in SEEDS:
        out = explain(
            scenario_store,
            scenario_store.get_model(f"feature{seed}"),
            "estimated_accuracy",
            start=T0 + 3600,
            end=T0 + 7200,
        )
        hits += out["verdict"] == "feature x1"
        assert out["change"]["current"] < out["change"]["baseline"] - 0.1
    print(f"\nestimated_accuracy, drifted feature: {hits}/10 -> 'feature x1'")
    assert hits >= 9


def test_evidence_of_a_drifted_feature_and_a_collapsing_segment(scenario_store):
    out = explain(
        scenario_store,
        scenario_store.get_model("feature0"),
        "accuracy",
        start=T0 + 3600,
        end=T0 + 7200,
    )
    by_name = {c["name"]: c for c in out["candidates"] if c["kind"] == "feature"}
    x1, x2 = by_name["x1"]["evidence"], by_name["x2"]["evidence"]
    assert x1["drifted"] and x2["drifted"]  # both drifted ...
    assert x1["importance"] > 0.8 > 0.05 > x2["importance"]  # ... the model uses one
    assert out["change"]["worse"] and out["change"]["delta"] < -0.1
    seg = explain(
        scenario_store,
        scenario_store.get_model("segment0"),
        "accuracy",
        start=T0 + 3600,
        end=T0 + 7200,
    )
    apac = seg["candidates"][0]
    assert apac["name"] == "region=apac"
    # the collapse is within the segment, not a change of the traffic mix
    assert abs(apac["evidence"]["within"]) > 5 * abs(apac["evidence"]["mix"])
    assert apac["evidence"]["mean"] < apac["evidence"]["mean_baseline"] - 0.3


def test_explain_route_and_bad_input(store, server_factory):
    plant(store, "error_kind", 3, "churn")
    client = server_factory()
    r = client.get(
        "/api/v1/models/churn/explain",
        params={"metric": "error_rate", "start": T0 + 3600, "end": T0 + 7200},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdict"] == "error_kind ValueError" and body["clear_cause"]
    assert body["baseline"] == {"start": T0, "end": T0 + 3600, "n": 1200, "n_valued": 1200}
    backwards = client.get(
        "/api/v1/models/churn/explain",
        params={"metric": "error_rate", "start": T0 + 7200, "end": T0},
    )
    assert backwards.status_code == 400 and "'end'" in backwards.json()["error"]["message"]
    bad = client.get("/api/v1/models/churn/explain", params={"metric": "drift_share"})
    assert bad.status_code == 400
    assert "cannot be explained" in bad.json()["error"]["message"]
    assert (
        client.get("/api/v1/models/nope/explain", params={"metric": "error_rate"}).status_code
        == 404
    )
    empty = client.get(
        "/api/v1/models/churn/explain", params={"metric": "error_rate", "start": 0, "end": 3600}
    ).json()
    assert empty["verdict"] == "no clear cause" and "too few rows" in empty["reason"]


def test_firing_alert_carries_the_ranking_in_its_history(store):
    plant(store, "error_kind", 1, "churn")
    rule = Rule.from_dict(
        {
            "name": "errors",
            "model": "churn",
            "metric": "error_rate",
            "op": ">",
            "threshold": 0.05,
            "window": "1h",
        }
    )
    alerts = AlertStore(store)
    alerts.put_rule(rule.to_dict())
    notes = AlertEngine(store).evaluate(now=T0 + 7200)
    assert [n.status for n in notes] == ["firing"]
    history = alerts.get_alert(notes[0].alert_id)["history"]
    firing = next(e for e in history if e["kind"] == "firing")
    ranking = firing["details"]["explain"]
    assert ranking["verdict"] == "error_kind ValueError"
    assert ranking["candidates"][0]["evidence"]["rate"] > 0.05
    # the notification (webhook, Slack, ...) names the likely cause in one line
    assert notes[0].annotations["cause"].startswith("error_kind ValueError: ValueError errors")


def test_per_row_quantities_of_each_metric_family():
    from vigil.engine.insight.explain import _quantity, explainable

    row = {
        "error": None,
        "error_type": None,
        "latency_s": 0.25,
        "actual": 3.0,
        "outputs": {"prediction": 5.5},
        "proba": 0.3,
    }
    assert _quantity("mae")(row) == 2.5 and _quantity("rmse")(row) == 2.5
    assert _quantity("latency_p99")(row) == 0.25
    assert _quantity("estimated_accuracy")(row) == pytest.approx(0.7)  # max(p, 1 - p)
    assert _quantity("estimated_f1")({**row, "proba": {"a": 0.1, "b": 0.6, "c": 0.3}}) == 0.6
    failed = {**row, "error": "boom", "error_type": "TimeoutError"}
    assert _quantity("error_rate")(failed) == 1.0
    assert _quantity("error_rate:TimeoutError")(failed) == 1.0
    assert _quantity("error_rate:ValueError")(failed) == 0.0
    assert _quantity("accuracy")(failed) is None  # a failed call has no answer to judge
    assert _quantity("accuracy")({**row, "outputs": 1, "actual": 1.0}) == 1.0
    assert not explainable("drift_share") and not explainable("cpu_percent")


def test_a_long_window_is_read_from_its_newest_rows(store):
    """explain reads at most MAX_ROWS rows per window: the newest, so that a change late in
    the window is what it sees (oldest first would dilute it)."""
    from vigil.engine.ingest.ingestor import Ingestor
    from vigil.store.quality.queries import predictions

    ingest = Ingestor(store)
    ingest.register_model(
        {
            "name": "m",
            "schema": {
                "task": "binary_classification",
                "features": [{"name": "x", "kind": "numeric"}],
            },
        }
    )
    ingest.ingest_predictions(
        "m",
        [{"id": f"p{i}", "ts": 1000.0 + i, "inputs": {"x": i}, "outputs": 1} for i in range(10)],
    )
    model = store.get_model("m")
    newest = predictions(store, model.id, 1000, 2000, limit=3, newest=True)
    assert [r["id"] for r in newest] == ["p7", "p8", "p9"]
    oldest = predictions(store, model.id, 1000, 2000, limit=3)
    assert [r["id"] for r in oldest] == ["p0", "p1", "p2"]
