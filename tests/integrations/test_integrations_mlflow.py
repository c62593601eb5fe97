"""MLflow tracking on a real tracking store (SQLite), read back through MlflowClient."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("mlflow", reason="needs the 'mlflow' extra (mlflow-skinny)")

from vigil.integrations.mlflow import MlflowLogger

pytestmark = [
    pytest.mark.integration,
    # MLflow 3.17's SQL store uses noload(), which SQLAlchemy 2.1 deprecates (MLflow's code).
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]


def test_evaluation_drift_and_windows_become_runs(rollup_store, tmp_path):
    import numpy as np
    import pandas as pd

    import vigil
    from vigil.engine.windows.metrics import window_metrics

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    logger = MlflowLogger(uri, experiment="churn-monitoring")
    evaluation = {
        "model": "churn",
        "version": "4",
        "dataset": "golden",
        "n_rows": 50,
        "dataset_sha256": "ab" * 32,
        "status": "succeeded",
        "id": 3,
        "started_at": 1_700_000_000.0,
        "finished_at": 1_700_000_010.0,
        "metrics": {"accuracy": 0.92, "f1": 0.81, "per_class": {"1": {"recall": 0.7}}},
        "latency": {"mean_s": 0.01, "p95_s": 0.03},
    }
    run_id = logger.log_evaluation(evaluation)
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"age": rng.normal(size=300)})
    cur = pd.DataFrame({"age": rng.normal(2.0, 1, 300)})
    drift_id = logger.log_drift(vigil.detect_drift(ref, cur), model="churn", version="4")
    base = rollup_store.base_minute
    windows = window_metrics(
        rollup_store, rollup_store.get_model("churn"), start=base, end=base + 120, step=60
    )
    windows_id = logger.log_window_metrics(windows)
    assert logger.stats == {"runs": 3, "errors": 0}

    client = logger.client
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model"] == "churn" and run.data.params["dataset"] == "golden"
    assert run.data.metrics["accuracy"] == 0.92
    assert run.data.metrics["per_class/1/recall"] == 0.7
    assert run.data.metrics["latency/p95_s"] == 0.03
    assert run.data.tags["vigil.status"] == "succeeded"
    assert run.data.tags["mlflow.runName"] == "churn v4 on golden"
    experiment = client.get_experiment_by_name("churn-monitoring")
    assert run.info.experiment_id == experiment.experiment_id

    drift = client.get_run(drift_id)
    assert drift.data.metrics["drift/dataset_drift"] == 1.0
    from pathlib import Path

    table = json.loads(
        Path(client.download_artifacts(drift_id, "drift.json", str(tmp_path))).read_text()
    )
    assert table["columns"][0] == "column" and table["data"][0][0] == "age"

    counts = client.get_metric_history(windows_id, "count")
    assert [(m.timestamp // 1000, m.value) for m in counts] == [(base, 100.0), (base + 60, 10.0)]


def test_an_unreachable_tracking_server_is_counted_not_raised(monkeypatch):
    from support.servers import free_port

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    logger = MlflowLogger(f"http://127.0.0.1:{free_port()}")
    assert logger.log_evaluation({"model": "m", "version": "1", "metrics": {"a": 1.0}}) is None
    assert logger.stats["errors"] == 1
