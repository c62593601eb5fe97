"""Scheduled evaluations credit the version that serves: a schedule may name an alias,
resolved when each run starts, so runs after a rollback land on the restored version."""

from __future__ import annotations

import pandas as pd
import pytest
from support.servers import model_server

from vigil.engine.quality.evaluation import register_dataset
from vigil.engine.quality.schedule import create_schedule, run_due
from vigil.errors import InvalidParameterError, NotFoundError
from vigil.registry import Registry
from vigil.store.quality import queries as qs

SCHEMA = {"task": "binary_classification", "features": [{"name": "x", "kind": "numeric"}]}


@pytest.fixture
def endpoint():
    """A model over HTTP: predicts 1 when x > 0."""
    with model_server(lambda inputs: {"prediction": int(inputs["x"] > 0)}) as url:
        yield url


@pytest.fixture
def churn(store, tmp_path):
    model, _ = store.upsert_model("churn", "binary_classification", SCHEMA)
    frame = pd.DataFrame({"x": [-1.0, -0.5, 0.5, 1.0], "label": [0, 0, 1, 1]})
    register_dataset(store, model, "golden", frame, "label")
    registry = Registry(store, tmp_path / "home", actor="tester")
    for version in ("1", "2", "3"):
        registry.register("churn", version)
    return model, registry


def _run_now(store, schedule) -> dict:
    (run,) = [
        r
        for r in run_due(store, now=schedule["next_run_at"] + 1)
        if r["schedule_id"] == schedule["id"]
    ]
    return run


def test_runs_are_credited_to_the_version_the_alias_serves(store, churn, endpoint):
    model, registry = churn
    registry.promote("churn", "production", "1")
    registry.promote("churn", "production", "2")
    schedule = create_schedule(
        store,
        model,
        {"dataset": "golden", "endpoint": endpoint, "interval_s": 60, "alias": "production"},
    )
    assert schedule["alias"] == "production" and schedule["version"] is None
    first = _run_now(store, schedule)
    assert first["status"] == "succeeded" and first["version"] == "2"
    registry.rollback("churn", "production", reason="bad release")
    (schedule,) = qs.list_schedules(store, model.id)
    # version 3 is the newest registered, but 1 is what serves after the rollback
    assert _run_now(store, schedule)["version"] == "1"


def test_without_version_or_alias_the_production_alias_decides(store, churn, endpoint):
    model, registry = churn
    schedule = create_schedule(
        store, model, {"dataset": "golden", "endpoint": endpoint, "interval_s": 60}
    )
    assert _run_now(store, schedule)["version"] == "3"  # no alias yet: the newest
    registry.promote("churn", "production", "2")
    (schedule,) = qs.list_schedules(store, model.id)
    assert _run_now(store, schedule)["version"] == "2"


def test_a_schedule_names_an_existing_alias_or_a_version_not_both(store, churn, endpoint):
    model, registry = churn
    base = {"dataset": "golden", "endpoint": endpoint, "interval_s": 60}
    with pytest.raises(NotFoundError, match="no alias 'canary'"):
        create_schedule(store, model, {**base, "alias": "canary"})
    registry.promote("churn", "production", "1")
    with pytest.raises(InvalidParameterError, match="at most one of 'version' and 'alias'"):
        create_schedule(store, model, {**base, "alias": "production", "version": "1"})
    with pytest.raises(InvalidParameterError, match="'alias'"):
        create_schedule(store, model, {**base, "alias": ""})


@pytest.mark.integration
def test_an_evaluation_over_http_may_name_an_alias(store, churn, endpoint, server_factory):
    _, registry = churn
    registry.promote("churn", "staging", "2")
    api = server_factory(auth="off")
    run = api.post(
        "/api/v1/models/churn/evaluations",
        json={"dataset": "golden", "endpoint": endpoint, "alias": "staging"},
    )
    assert run.status_code == 201, run.text
    assert run.json()["version"] == "2" and run.json()["status"] == "succeeded"
    missing = api.post(
        "/api/v1/models/churn/evaluations",
        json={"dataset": "golden", "endpoint": endpoint, "alias": "nope"},
    )
    assert missing.status_code == 404 and "nope" in missing.json()["error"]["message"]
