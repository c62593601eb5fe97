"""ADWIN: adaptive windowing over a stream of real values."""

from __future__ import annotations

from typing import ClassVar

from vigil.drift.stream.base import Param, StreamDetector, positive, unit_open


class ADWIN(StreamDetector):
    """ADaptive WINdowing drift detector (River's ``ADWIN``) for errors or metric values.

    Keeps a window whose two halves have statistically equal means; a drift is a cut that
    drops the older part.

    Args:
        delta: significance of the cut test, in (0, 1); smaller means fewer alarms.
        clock: check for a cut every ``clock`` values.
        max_buckets: buckets of each size kept before merging.
        min_window_length: shortest sub-window tested.
        grace_period: values seen before the first check.

    References:
        Bifet, Gavaldà. "Learning from time-changing data with adaptive windowing."
        SIAM SDM 2007.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> det = ADWIN()
        >>> stream = np.concatenate([rng.normal(0, 1, 1000), rng.normal(4, 1, 1000)])
        >>> hits = det.update_many(stream)
        >>> 1000 <= hits[0] < 1100
        True
    """

    name = "adwin"
    river_class = "river.drift:ADWIN"
    params_spec: ClassVar[dict[str, Param]] = {
        "delta": Param(0.002, unit_open, "a float in (0, 1)", float),
        "clock": Param(32, positive, "a positive integer", int),
        "max_buckets": Param(5, positive, "a positive integer", int),
        "min_window_length": Param(5, positive, "a positive integer", int),
        "grace_period": Param(10, positive, "a positive integer", int),
    }
