"""Concept drift on 0/1 error streams: vigil's server default against River's ADWIN and DDM.

For each error rate, stable streams count false alarms per 100,000 predictions; abrupt
and gradual shifts (from prediction 5,000 on) measure the detection rate and the delay
(predictions after the change until the first alarm). vigil's default is the detector
:data:`vigil.engine.quality.concept_drift.DEFAULT_DETECTORS` names for classifiers, fed the way the
server feeds it (re-armed after each detection); River's detectors run with their
defaults and River's own reset-on-drift.

    python bench/drift/bench_concept.py                 # 20 seeds x 100k per stable rate
    python bench/drift/bench_concept.py --seeds 5       # quicker
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from river import drift
from river.drift import binary

from vigil.drift.stream import make_detector
from vigil.engine.quality.concept_drift import DEFAULT_DETECTORS, _feed

CHANGE = 5_000
SHIFTS = [(0.01, 0.03), (0.03, 0.06), (0.03, 0.44), (0.10, 0.20), (0.30, 0.45)]


def vigil_default(stream: np.ndarray) -> list[int]:
    name, params = DEFAULT_DETECTORS["classification"]
    return _feed(make_detector(name, **params), stream.astype(float).tolist())[0]


def river(factory):
    def run(stream: np.ndarray) -> list[int]:
        det, hits = factory(), []
        for i, x in enumerate(stream.tolist()):
            det.update(x)
            if det.drift_detected:
                hits.append(i)
        return hits

    return run


DETECTORS = {
    "vigil default (ADWIN δ=0.002, re-armed)": vigil_default,
    "River ADWIN (defaults)": river(drift.ADWIN),
    "River DDM (defaults)": river(binary.DDM),
}


def stable(rate: float, seeds: int, n: int = 100_000) -> dict[str, float]:
    out = {}
    for name, run in DETECTORS.items():
        alarms = sum(
            len(run((np.random.default_rng(s).random(n) < rate).astype(int))) for s in range(seeds)
        )
        out[name] = alarms / (seeds * n) * 100_000
    return out


def shifted(
    p0: float, p1: float, seeds: int, ramp: int = 0, n: int = 25_000
) -> dict[str, tuple[float, float | None, float]]:
    """Per detector: detection rate, median delay, false alarms before the change."""
    p = np.full(n, p0)
    if ramp:
        p[CHANGE : CHANGE + ramp] = np.linspace(p0, p1, ramp)
        p[CHANGE + ramp :] = p1
    else:
        p[CHANGE:] = p1
    out = {}
    for name, run in DETECTORS.items():
        delays, early = [], 0
        for s in range(seeds):
            hits = run((np.random.default_rng(1000 + s).random(n) < p).astype(int))
            early += sum(h < CHANGE for h in hits)
            after = [h for h in hits if h >= CHANGE]
            if after:
                delays.append(after[0] - CHANGE)
        rate = len(delays) / seeds
        out[name] = (rate, float(np.median(delays)) if delays else None, early / seeds)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    args = ap.parse_args()
    t0 = time.perf_counter()
    names = list(DETECTORS)
    print(
        f"False alarms per 100,000 predictions on stable streams "
        f"({args.seeds} × 100,000 per rate)\n"
    )
    print("| error rate | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for rate in (0.01, 0.03, 0.10, 0.30):
        row = stable(rate, args.seeds)
        print(f"| {rate:.0%} | " + " | ".join(f"{row[n]:.2f}" for n in names) + " |")
    for label, ramp in (("abrupt", 0), ("gradual (linear over 5,000)", 5_000)):
        print(
            f"\n{label.capitalize()} shifts at prediction 5,000: detected share, median "
            f"delay (predictions), false alarms before the change per stream\n"
        )
        print("| shift | " + " | ".join(names) + " |")
        print("|---" * (len(names) + 1) + "|")
        for p0, p1 in SHIFTS:
            row = shifted(p0, p1, args.seeds, ramp)
            cells = [
                f"{r:.0%}, {'—' if d is None else int(d)}, {e:.2f}"
                for r, d, e in (row[n] for n in names)
            ]
            print(f"| {p0:.0%} → {p1:.0%} | " + " | ".join(cells) + " |")
    print(f"\n({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
