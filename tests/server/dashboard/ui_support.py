"""Helpers of the dashboard tests: demo-like data through the SDK, screenshots."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@functools.cache
def _demo_model():
    from vigil.cli.demo_model import train

    return train(n=600)


def fill_demo(db_url: str, *, models: tuple[str, ...] = ("credit-risk",),
              versions: tuple[str, ...] = ("1", "2"), per_minute: int = 6,
              minutes: int = 60, error_every: int = 25) -> int:
    """Send the demo model's predictions through the SDK (local mode, straight to the
    store), spread over the last ``minutes``; return how many were sent."""
    import vigil
    from vigil.cli.demo_model import make_applicants, true_default_probability

    model = _demo_model()
    rng = np.random.default_rng(3)
    now = time.time()
    sent = 0
    for name in models:
        for v_index, version in enumerate(versions):
            mon = vigil.Monitor(name, version=version, endpoint=db_url,
                                task="binary_classification")
            for minute in range(minutes):
                for i, features in enumerate(make_applicants(per_minute, rng)):
                    ts = now - (minutes - minute) * 60 + i * (60 / per_minute)
                    latency = float(rng.gamma(2.0, 0.004 * (1 + v_index)))
                    if sent % error_every == 0:
                        mon.log_prediction(features, None, latency_s=latency, ts=ts,
                                           error=TimeoutError("feature store timed out"))
                    else:
                        label, proba = model.predict(features)
                        pid = mon.log_prediction(features, label, proba=[1 - proba, proba],
                                                 latency_s=latency, ts=ts)
                        if sent % 2:  # half the predictions get their label
                            mon.log_label(pid, int(rng.random() < true_default_probability(
                                features)))
                    sent += 1
            assert mon.flush(), "the SDK could not deliver the demo data"
            mon.close()
    return sent


def screenshot(tab, name: str) -> Path:
    """Save a full-page screenshot under tests/artifacts/ (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"ui-{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path
