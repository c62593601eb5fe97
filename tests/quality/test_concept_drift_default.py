"""The server's default concept-drift detector: false alarms on stable error streams are
rare and stated, a real shift is stored as an event, and detectors are re-armed after a
detection and after a promotion. Checked on real stores through the HTTP API."""

from __future__ import annotations

import time

import numpy as np
import pytest
from river import drift

from vigil.drift.stream import make_detector
from vigil.engine.quality.concept_drift import DEFAULT_DETECTORS, _feed, update_concept_drift
from vigil.registry import Registry
from vigil.store.quality import queries as qs

SCHEMA = {"task": "binary_classification", "features": [{"name": "x", "kind": "numeric"}]}


@pytest.mark.parametrize("rate", [0.01, 0.03, 0.10, 0.30])
def test_default_false_alarms_per_100k_on_stable_streams(rate) -> None:
    """At most the stated 1 false alarm per 100,000 predictions (0 seen in the bench's
    2,000,000 per rate); River's ADWIN, run directly, agrees on every stream (the oracle)."""
    name, params = DEFAULT_DETECTORS["classification"]
    alarms = 0
    for seed in range(3):
        stream = (np.random.default_rng(seed).random(100_000) < rate).astype(float)
        hits, _ = _feed(make_detector(name, **params), stream.tolist())
        river = drift.ADWIN(delta=params["delta"])
        river_hits = []
        for i, x in enumerate(stream.tolist()):
            river.update(x)
            if river.drift_detected:
                river_hits.append(i)
        assert hits[:1] == river_hits[:1]  # the same first alarm (or none) as River's
        alarms += len(hits)
    assert alarms / 3 <= 1.0


def _errors(client, errors: np.ndarray, *, start: float, version: str, tag: str) -> None:
    """Predictions of class 1 whose labels are 0 where ``errors`` is 1."""
    records = [
        {
            "id": f"{tag}{i}",
            "version": version,
            "ts": start + i * 0.01,
            "inputs": {"x": float(i % 7)},
            "outputs": 1,
        }
        for i in range(errors.size)
    ]
    labels = [
        {"prediction_id": f"{tag}{i}", "actual": int(1 - e)} for i, e in enumerate(errors.tolist())
    ]
    for i in range(0, len(records), 2000):
        r = client.post("/api/v1/models/m/predictions", json={"records": records[i : i + 2000]})
        assert r.status_code == 200, r.text
        r = client.post("/api/v1/models/m/labels", json={"labels": labels[i : i + 2000]})
        assert r.status_code in (200, 207), r.text


def test_shift_from_3_to_44_percent_is_detected_then_rearmed(
    server_factory, store, tmp_path
) -> None:
    client = server_factory(auth="off")
    assert client.post("/api/v1/models", json={"name": "m", "schema": SCHEMA}).status_code == 201
    model = store.get_model("m")
    rng = np.random.default_rng(7)
    start = time.time() - 3600
    _errors(client, (rng.random(4000) < 0.03).astype(int), start=start, version="1", tag="s")
    quiet = update_concept_drift(store, model, now=time.time() + 5)
    assert quiet == {"1": {"fed": 4000, "detections": 0}}
    _errors(client, (rng.random(3000) < 0.44).astype(int), start=start + 100, version="1", tag="b")
    loud = update_concept_drift(store, model, now=time.time() + 5)
    assert loud["1"]["fed"] == 3000 and loud["1"]["detections"] >= 1
    events = qs.drift_events(store, model.id, version="1")
    first = events[0]
    assert first["detector"] == "adwin"
    assert first["n_seen"] <= 4000 + 300  # within 300 predictions of the change
    assert first["details"]["recent_error_mean"] > 0.2
    # re-armed after the detection: the new regime is learnt, so 3,000 rows at 44 % do not
    # keep alarming (River's ADWIN without a reset would carry the 3 % history along)
    assert len(events) <= 2, events
    # a promotion re-arms the version's detector: it restarts from the next rows
    registry = Registry(store, tmp_path / "registry", actor="test")
    registry.register("m", "1")
    registry.promote("m", "production", "1")
    _errors(client, (rng.random(500) < 0.44).astype(int), start=start + 200, version="1", tag="c")
    after = update_concept_drift(store, model, now=time.time() + 5)
    assert after["1"] == {"fed": 500, "detections": 0, "rearmed": "promotion"}
    assert qs.drift_state(store, model.id, "1")["n_seen"] == 500
    again = update_concept_drift(store, model, now=time.time() + 5)
    assert again == {}  # nothing new, and no second re-arm for the same promotion
