"""Registering first does not break monitoring: a Monitor fills in the placeholder model
`vigil registry register` made (task "other", no inputs), so labelled predictions give
quality metrics; a contradicting task is said loudly, not ignored."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

import vigil
from vigil.registry import Registry


@pytest.mark.integration
def test_a_registry_first_model_gets_quality_once_labels_arrive(server_factory, store, tmp_path):
    Registry(store, tmp_path / "home").register("churn", "1")
    assert store.get_model("churn").task == "other"  # the registry's placeholder
    api = server_factory(auth="off")
    mon = vigil.Monitor(
        "churn",
        version="1",
        endpoint=str(api.base_url),
        task="binary_classification",
        spool_dir=tmp_path / "spool",
    )
    rng = np.random.default_rng(3)
    truth, predicted = [], []
    for _ in range(200):
        x = float(rng.normal())
        pid = mon.log_prediction({"x": x, "plan": "pro" if x > 0 else "free"}, int(x > 0))
        actual = int(x + rng.normal(0, 0.5) > 0)
        mon.log_label(pid, actual)
        truth.append(actual)
        predicted.append(int(x > 0))
    assert mon.close(timeout_s=60)
    model = store.get_model("churn")
    assert model.task == "binary_classification"
    assert {f["name"] for f in model.schema["features"]} == {"x", "plan"}
    q = api.get(
        "/api/v1/models/churn/quality", params={"start": time.time() - 3600, "min_rows": 20}
    ).json()
    assert q["realised"]["accuracy"] == pytest.approx(accuracy_score(truth, predicted), abs=1e-9)


def test_a_contradicting_task_is_logged_as_an_error(store, tmp_path, caplog):
    store.upsert_model("churn", "regression", {"task": "regression", "features": []})
    mon = vigil.Monitor(
        "churn",
        version="1",
        endpoint=store.url,
        task="binary_classification",
        spool_dir=tmp_path / "spool",
    )
    with caplog.at_level(logging.ERROR, logger="vigil"):
        mon.log_prediction({"x": 1.0}, 1)
        assert mon.close(timeout_s=60)
    assert store.get_model("churn").task == "regression"  # kept: a person decides
    assert any(
        "registered with task 'regression'" in r.getMessage()
        and "binary_classification" in r.getMessage()
        for r in caplog.records
    )
