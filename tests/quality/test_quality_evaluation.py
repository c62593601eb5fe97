"""Golden-set evaluation in-process and against a real local HTTP model endpoint;
scheduled runs; the evaluate and export dataset commands."""

from __future__ import annotations

import io
import json
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from support.servers import model_server

from vigil.cli.main import main
from vigil.engine.quality.evaluation import evaluate, register_dataset

SCHEMA = {
    "task": "binary_classification",
    "features": [{"name": "x", "kind": "numeric"}, {"name": "plan", "kind": "categorical"}],
}


def _golden(n=80, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n).round(3)
    y = (x + rng.normal(0, 0.7, n) > 0).astype(int)
    return pd.DataFrame({"x": x, "plan": np.where(x > 1, "pro", "free"), "label": y})


def _logistic(inputs):
    p = 1 / (1 + np.exp(-3 * inputs["x"]))
    return {"prediction": int(p >= 0.5), "proba": float(p)}


def _crash(inputs):
    raise RuntimeError("the model crashed")


@pytest.fixture
def model_endpoint():
    """Start a model over HTTP (``fail``: one that answers 500); returns its URL."""
    with ExitStack() as stack:
        yield lambda fail=False: stack.enter_context(model_server(_crash if fail else _logistic))


@pytest.fixture
def client(server_factory):
    c = server_factory(auth="off")
    assert c.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA}).status_code == 201
    return c


def _expected(frame):
    p = 1 / (1 + np.exp(-3 * frame["x"].to_numpy()))
    return (p >= 0.5).astype(int), p


@pytest.mark.integration
def test_endpoint_evaluation_over_http_and_on_a_schedule(client, store, model_endpoint):
    frame = _golden()
    records = json.loads(frame.to_json(orient="records"))
    r = client.post(
        "/api/v1/models/churn/golden-datasets",
        json={"name": "golden", "target": "label", "records": records},
    )
    assert r.status_code == 201, r.text
    assert r.json()["n_rows"] == 80
    url = model_endpoint()
    r = client.post(
        "/api/v1/models/churn/evaluations",
        json={"dataset": "golden", "endpoint": url, "version": "7"},
    )
    assert r.status_code == 201, r.text
    run = r.json()
    pred, p = _expected(frame)
    assert run["status"] == "succeeded" and run["version"] == "7" and run["mode"] == "endpoint"
    assert run["metrics"]["accuracy"] == pytest.approx(
        skm.accuracy_score(frame.label, pred), abs=1e-6
    )
    assert run["metrics"]["roc_auc"] == pytest.approx(skm.roc_auc_score(frame.label, p), abs=1e-6)
    assert run["latency"]["requests"] == 80 and 0 < run["latency"]["p50_s"] < 1
    # a crashing endpoint is a stored, failed run with the reason
    bad = client.post(
        "/api/v1/models/churn/evaluations",
        json={"dataset": "golden", "endpoint": model_endpoint(fail=True)},
    ).json()
    assert bad["status"] == "failed" and "500" in bad["error"]
    r = client.post(
        "/api/v1/models/churn/evaluation-schedules",
        json={"dataset": "golden", "endpoint": url, "interval_s": 1},
    )
    assert r.status_code == 201, r.text
    schedule = r.json()
    deadline = time.time() + 20
    while True:
        runs = client.get("/api/v1/models/churn/evaluations").json()["runs"]
        if any(x["schedule_id"] == schedule["id"] for x in runs):
            break
        assert time.time() < deadline, runs
        time.sleep(0.1)
    scheduled = next(x for x in runs if x["schedule_id"] == schedule["id"])
    assert scheduled["status"] == "succeeded" and scheduled["dataset_sha256"]
    text = client.get("/metrics").text
    assert 'vigil_evaluation{dataset="golden",metric="accuracy",model_name="churn"' in text
    assert (
        client.delete(f"/api/v1/models/churn/evaluation-schedules/{schedule['id']}").status_code
        == 200
    )
    assert client.get("/api/v1/models/churn/evaluation-schedules").json()["schedules"] == []


def test_evaluation_input_errors_are_4xx(client):
    frame = _golden(10)
    buf = io.BytesIO()
    frame.to_parquet(buf)
    r = client.post(
        "/api/v1/models/churn/golden-datasets?dataset=small&target=nope",
        content=buf.getvalue(),
        headers={"Content-Type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 400 and "'nope'" in r.json()["error"]["message"]
    r = client.post(
        "/api/v1/models/churn/golden-datasets?dataset=small&target=label",
        content=b"not parquet",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 400 and "Parquet" in r.json()["error"]["message"]
    r = client.post(
        "/api/v1/models/churn/golden-datasets?dataset=small&target=label",
        content=buf.getvalue(),
        headers={"Content-Type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 201
    r = client.post(
        "/api/v1/models/churn/evaluations",
        json={"dataset": "missing", "endpoint": "http://127.0.0.1:1/x"},
    )
    assert r.status_code == 404
    for body, word in (
        ({"dataset": "small", "endpoint": "ftp://x"}, "endpoint"),
        ({"dataset": "small", "endpoint": "http://h", "cron": "* * *"}, "five"),
        ({"dataset": "small", "endpoint": "http://h", "interval_s": 0}, "interval"),
        ({"dataset": "small", "endpoint": "http://h"}, "exactly one"),
    ):
        r = client.post("/api/v1/models/churn/evaluation-schedules", json=body)
        assert r.status_code == 400 and word in r.json()["error"]["message"], (body, r.text)
    r = client.post(
        "/api/v1/models/churn/evaluation-schedules",
        json={"dataset": "small", "endpoint": "http://h", "cron": "*/5 * * * 1-5"},
    )
    assert r.status_code == 201 and r.json()["next_run_at"] > time.time()
    assert client.delete("/api/v1/models/churn/evaluation-schedules/999").status_code == 404


def test_in_process_evaluation_engine_and_cli(store, db_url, capsys):
    store.upsert_model("churn", "binary_classification", SCHEMA)
    model = store.get_model("churn")
    frame = _golden(60, seed=3)
    register_dataset(store, model, "golden", frame, "label")

    def predict(features):
        return (features["x"] > 0).astype(int)

    run = evaluate(store, model, "golden", version="3", predict=predict)
    assert run["status"] == "succeeded" and run["mode"] == "in_process"
    assert run["metrics"]["f1"] == pytest.approx(
        skm.f1_score(frame.label, (frame.x > 0).astype(int)), abs=1e-6
    )
    failed = evaluate(store, model, "golden", version="3", predict=lambda f: 1 / 0)
    assert failed["status"] == "failed" and "ZeroDivisionError" in failed["error"]

    Path("golden_model_cli.py").write_text(
        "def predict(frame):\n    return (frame['x'] > 0.5).astype(int)\n", encoding="utf-8"
    )
    frame.to_parquet("golden.parquet")
    main(
        [
            "evaluate",
            "--model",
            "churn",
            "--version",
            "4",
            "--dataset",
            "golden.parquet",
            "--predict",
            "golden_model_cli:predict",
            "--db",
            db_url,
            "--json",
            "run.json",
        ]
    )
    saved = json.loads(Path("run.json").read_text())
    assert saved["version"] == "4" and saved["dataset"] == "golden"
    assert saved["metrics"]["accuracy"] == pytest.approx(
        skm.accuracy_score(frame.label, (frame.x > 0.5).astype(int)), abs=1e-6
    )
    assert "accuracy" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "evaluate",
                "--model",
                "churn",
                "--dataset",
                "golden.parquet",
                "--predict",
                "nomodule",
                "--db",
                db_url,
            ]
        )
    assert exc.value.code == 1
    assert "--predict must be 'package.module:function'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(
            [
                "evaluate",
                "--model",
                "nobody",
                "--dataset",
                "golden.parquet",
                "--predict",
                "golden_model_cli:predict",
                "--db",
                db_url,
            ]
        )
    assert "No model named 'nobody'" in capsys.readouterr().err


def test_export_dataset_writes_a_training_set(store, db_url, capsys):
    from vigil.engine.ingest.ingestor import Ingestor

    ingest = Ingestor(store)
    ingest.register_model({"name": "churn", "schema": SCHEMA})
    now = time.time()
    ingest.ingest_predictions(
        "churn",
        [
            {
                "id": f"p{i}",
                "ts": now - 3600 * i,
                "inputs": {"x": i / 10, "plan": "pro"},
                "outputs": i % 2,
                "proba": [0.3, 0.7],
            }
            for i in range(10)
        ],
    )
    ingest.ingest_labels("churn", [{"prediction_id": f"p{i}", "actual": 1} for i in range(4)])
    ingest.ingest_feedback(
        "churn",
        [
            {"prediction_id": "p1", "score": -1, "comment": "wrong"},
            {"prediction_id": "p1", "score": 1},
        ],
    )
    main(
        [
            "export",
            "dataset",
            "--model",
            "churn",
            "--since",
            "5.5h",
            "-o",
            "train.parquet",
            "--db",
            db_url,
        ]
    )
    frame = pd.read_parquet("train.parquet")
    assert sorted(frame.prediction_id) == ["p0", "p1", "p2", "p3", "p4", "p5"]
    assert {"input.x", "input.plan", "prediction", "proba", "label", "feedback_score"} <= set(
        frame.columns
    )
    p1 = frame.set_index("prediction_id").loc["p1"]
    assert p1.label == 1 and p1.feedback_count == 2 and p1.feedback_score == 0
    assert p1.feedback_comment is None or p1.feedback_comment == "wrong"
    assert "Wrote 6 predictions (4 labelled)" in capsys.readouterr().out
    main(
        [
            "export",
            "dataset",
            "--model",
            "churn",
            "--labelled-only",
            "-o",
            "l.parquet",
            "--db",
            db_url,
        ]
    )
    assert len(pd.read_parquet("l.parquet")) == 4
    with pytest.raises(SystemExit):
        main(
            [
                "export",
                "dataset",
                "--model",
                "churn",
                "--since",
                "yesterday",
                "-o",
                "x.parquet",
                "--db",
                db_url,
            ]
        )
    assert "--since must be unix seconds" in capsys.readouterr().err


def test_evaluate_resolves_an_alias_through_the_registry(store, db_url, tmp_path, capsys):
    from vigil.registry import Registry

    store.upsert_model("churn", "binary_classification", SCHEMA)
    home = tmp_path / "home"
    artifact = tmp_path / "model.txt"
    artifact.write_text("weights", encoding="utf-8")
    registry = Registry(store, home)
    registry.register("churn", "5", artifact)
    registry.promote("churn", "production", "5")
    _golden(30).to_parquet("g.parquet")
    Path("alias_model.py").write_text(
        "def predict(frame):\n    return [1] * len(frame)\n", encoding="utf-8"
    )
    main(
        [
            "evaluate",
            "--model",
            "churn@production",
            "--dataset",
            "g.parquet",
            "--predict",
            "alias_model:predict",
            "--db",
            db_url,
            "--home",
            str(home),
            "--json",
            "run.json",
        ]
    )
    run = json.loads(Path("run.json").read_text())
    assert (run["version"], run["alias"]) == ("5", "production")
    with pytest.raises(SystemExit):
        main(
            [
                "evaluate",
                "--model",
                "churn@staging",
                "--dataset",
                "g.parquet",
                "--predict",
                "alias_model:predict",
                "--db",
                db_url,
                "--home",
                str(home),
            ]
        )
    assert "staging" in capsys.readouterr().err
