"""One conformance suite for every online detector, plus validation and state errors."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest

from vigil.drift.stream import (
    DETECTORS,
    KSWIN,
    DetectorStateError,
    PageHinkley,
    StreamDetector,
    make_detector,
)
from vigil.errors import InvalidParameterError

NAMES = sorted(DETECTORS)


def _build(name: str, seed: int = 0) -> StreamDetector:
    return make_detector(name, seed=seed) if name == "kswin" else make_detector(name)


def _stationary(det: StreamDetector, rng: np.random.Generator, n: int) -> np.ndarray:
    if det.binary:
        return (rng.random(n) < 0.1).astype(float)
    return rng.normal(0.0, 1.0, n)


def _shifted(det: StreamDetector, rng: np.random.Generator, n: int) -> np.ndarray:
    if det.binary:
        return (rng.random(n) < 0.5).astype(float)
    return rng.normal(3.0, 1.0, n)


@pytest.mark.parametrize("name", NAMES)
def test_rare_alarms_on_a_stationary_stream(name: str) -> None:
    alarms = total = 0
    for seed in range(3):
        det = _build(name, seed)
        rng = np.random.default_rng(seed)
        alarms += len(det.update_many(_stationary(det, rng, 2000)))
        total += 2000
    assert alarms / total <= 0.005


@pytest.mark.parametrize("name", NAMES)
def test_alarm_soon_after_a_step_change(name: str) -> None:
    for seed in range(3):
        det = _build(name, seed)
        rng = np.random.default_rng(100 + seed)
        stream = np.concatenate([_stationary(det, rng, 1000), _shifted(det, rng, 1000)])
        hits = det.update_many(stream)
        assert any(1000 <= h < 1300 for h in hits), (seed, hits)


@pytest.mark.parametrize("name", NAMES)
def test_state_round_trip_gives_identical_verdicts(name: str) -> None:
    det = _build(name, 3)
    rng = np.random.default_rng(3)
    det.update_many(_stationary(det, rng, 700))
    state = det.to_state()
    rest = np.concatenate([_stationary(det, rng, 300), _shifted(det, rng, 600)])
    restored = StreamDetector.from_state(state)
    assert type(restored) is type(det)
    assert (restored.params, restored.n_seen) == (det.params, det.n_seen)
    assert type(det).from_state(state).n_seen == 700
    assert restored.update_many(rest) == det.update_many(rest)
    clone = pickle.loads(pickle.dumps(det))
    tail = _shifted(det, rng, 50)
    assert [clone.update(v).drift_detected for v in tail] == [
        det.update(v).drift_detected for v in tail
    ]


@pytest.mark.parametrize("name", NAMES)
def test_reset_forgets_the_stream(name: str) -> None:
    det = _build(name, 4)
    fresh = _build(name, 4)
    rng = np.random.default_rng(4)
    det.update_many(np.concatenate([_stationary(det, rng, 500), _shifted(det, rng, 500)]))
    det.reset()
    assert det.n_seen == 0
    assert not det.drift_detected
    stream = _stationary(det, rng, 400)
    assert det.update_many(stream) == fresh.update_many(stream)


@pytest.mark.parametrize("name", NAMES)
def test_update_returns_self_and_verdict_is_read_only(name: str) -> None:
    det = _build(name)
    assert det.update(1) is det
    assert det.n_seen == 1
    assert det.drift_detected is False
    assert isinstance(det.warning_detected, bool)
    with pytest.raises(AttributeError):
        det.drift_detected = True  # type: ignore[misc]
    assert repr(det).startswith(type(det).__name__ + "(")


@pytest.mark.parametrize("name", NAMES)
def test_bad_values_are_rejected_before_feeding(name: str) -> None:
    det = _build(name)
    bad = [0.0, 1.0, 0.5] if det.binary else [0.0, 1.0, float("nan")]
    with pytest.raises(InvalidParameterError, match="at index 2; nothing was fed"):
        det.update_many(bad)
    assert det.n_seen == 0
    with pytest.raises(InvalidParameterError, match="takes"):
        det.update("x")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="1-D"):
        det.update_many(np.zeros((2, 2)))
    with pytest.raises(InvalidParameterError, match="1-D array of numbers"):
        det.update_many(["a", "b"])
    if not det.binary:
        with pytest.raises(InvalidParameterError, match="finite"):
            det.update(float("inf"))


def test_binary_detectors_accept_bools() -> None:
    det = make_detector("ddm")
    assert det.update(True).update(False).n_seen == 2
    assert det.update_many([True, False, True]) == []


def test_factory_names_and_params() -> None:
    assert isinstance(make_detector("Page-Hinkley"), PageHinkley)
    assert make_detector("kswin", window_size=50, stat_size=10).params["window_size"] == 50
    assert set(DETECTORS) == {"adwin", "ddm", "eddm", "hddm_a", "hddm_w", "kswin", "page_hinkley"}
    assert sorted(c for c, cls in DETECTORS.items() if cls.binary) == [
        "ddm",
        "eddm",
        "hddm_a",
        "hddm_w",
    ]


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nope", {}, "Unknown drift detector 'nope'"),
        ("adwin", {"delta": 2.0}, r"'delta' parameter of ADWIN must be a float in \(0, 1\)"),
        ("adwin", {"clock": 0}, "positive integer"),
        ("adwin", {"clock": 1.5}, "positive integer"),
        ("adwin", {"clock": True}, "positive integer"),
        ("adwin", {"alpha": 0.1}, r"unknown parameter\(s\) \['alpha'\]"),
        ("page_hinkley", {"mode": "sideways"}, "'up', 'down' or 'both'"),
        ("page_hinkley", {"threshold": float("nan")}, "a float > 0"),
        ("kswin", {"stat_size": 100}, "smaller than 'window_size'"),
        ("kswin", {"seed": "x"}, "an integer or None"),
        ("ddm", {"warning_threshold": 4.0}, "must not exceed"),
        ("eddm", {"beta": 0.99}, "must not exceed"),
        ("hddm_a", {"warning_confidence": 0.0001}, "must be ≥"),
        ("hddm_w", {"lambda_val": 0}, r"\(0, 1\]"),
        ("hddm_w", {"two_sided_test": 1}, "True or False"),
    ],
)
def test_invalid_parameters(name: str, params: dict, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        make_detector(name, **params)


def test_corrupt_state_is_rejected() -> None:
    state = make_detector("adwin").update(1.0).to_state()
    (size,) = struct.unpack_from("<I", state, 5)
    cases = {
        "no 'VGSD' header": [b"", b"garbage bytes", "text"],
        "format version 7": [state[:4] + b"\x07" + state[5:]],
        "bad header": [state[:9] + b"[" + state[10:]],
        "malformed": [state[: 9 + size] + b"not a pickle", state[: 9 + size] + pickle.dumps(3)],
    }
    for message, blobs in cases.items():
        for blob in blobs:
            with pytest.raises(DetectorStateError, match=message):
                StreamDetector.from_state(blob)  # type: ignore[arg-type]
    with pytest.raises(DetectorStateError, match="holds a ADWIN, not a KSWIN"):
        KSWIN.from_state(state)
    assert DetectorStateError.code == "invalid_detector_state"


def test_import_does_not_load_river() -> None:
    import subprocess
    import sys

    code = "import sys, vigil.drift.stream; print('river' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
