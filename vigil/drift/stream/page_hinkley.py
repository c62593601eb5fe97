"""Page–Hinkley: cumulative deviation test over a stream of real values."""

from __future__ import annotations

from typing import ClassVar

from vigil.drift.stream.base import Param, StreamDetector, positive


class PageHinkley(StreamDetector):
    """Page–Hinkley change detector (River's ``PageHinkley``) for errors or metric values.

    Tracks the cumulative deviation of values from their running mean and alarms when it
    exceeds ``threshold``.

    Args:
        min_instances: values seen before the first alarm is possible.
        delta: tolerated magnitude of change, ≥ 0.
        threshold: the alarm level λ, > 0.
        alpha: forgetting factor of the cumulative sum, in (0, 1].
        mode: ``"up"`` (increases), ``"down"`` (decreases) or ``"both"``.

    References:
        Page. "Continuous inspection schemes." Biometrika 41 (1954).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> det = PageHinkley()
        >>> stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(4, 1, 1000)])
        >>> hits = det.update_many(stream)
        >>> 1000 <= hits[0] < 1050
        True
    """

    name = "page_hinkley"
    river_class = "river.drift:PageHinkley"
    params_spec: ClassVar[dict[str, Param]] = {
        "min_instances": Param(30, positive, "a positive integer", int),
        "delta": Param(0.005, lambda v: v >= 0, "a float ≥ 0", float),
        "threshold": Param(50.0, positive, "a float > 0", float),
        "alpha": Param(1 - 0.0001, lambda v: 0 < v <= 1, "a float in (0, 1]", float),
        "mode": Param("both", lambda v: v in ("up", "down", "both"), "'up', 'down' or 'both'", str),
    }
