"""Fairness across segments: demographic parity, equal opportunity, disparate impact.

For a binary decision (``positive`` predicted or not) per segment: the selection rate
``P(ŷ = positive)`` and the true positive rate ``P(ŷ = positive | y = positive)``. The
differences are max − min over the segments compared, the disparate-impact ratio is
min / max of the selection rates (the "four-fifths rule" flags a ratio below 0.8), and
each result names the segments at both ends. Segments with fewer than ``min_rows`` rows
are listed with ``too_few_rows: true`` and left out of the comparison.

References:
    Hardt, Price, Srebro (2016). Equality of opportunity in supervised learning. NeurIPS.
    US EEOC Uniform Guidelines (1978), 29 CFR 1607.4(D): the four-fifths rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vigil.errors import InvalidParameterError
from vigil.quality._common import rounded


def fairness_metrics(
    y_pred: Sequence[Any], segments: Sequence[Any], *, y_true: Sequence[Any] | None = None,
    positive: Any = 1, min_rows: int = 30,
) -> dict[str, Any]:
    """Selection rate and TPR per segment, with parity differences between segments.

    Args:
        y_pred: predicted classes.
        segments: the segment of each row (e.g. a categorical input's value).
        y_true: true classes; needed for the equal-opportunity difference.
        positive: the favourable class.
        min_rows: segments with fewer rows are marked and not compared.

    Examples:
        >>> m = fairness_metrics([1, 0, 1, 1, 0, 0], ["a", "a", "a", "b", "b", "b"],
        ...                      min_rows=1)
        >>> m["demographic_parity_difference"]["value"], m["disparate_impact_ratio"]["value"]
        (0.333333, 0.5)
    """
    if len(y_pred) != len(segments) or (y_true is not None and len(y_true) != len(y_pred)):
        raise InvalidParameterError("'y_pred', 'segments' and 'y_true' must have equal lengths.")
    pred = np.array([v == positive for v in y_pred])
    true = None if y_true is None else np.array([v == positive for v in y_true])
    seg_keys = [str(s) for s in segments]
    per: list[dict[str, Any]] = []
    for seg in sorted(set(seg_keys)):
        mask = np.array([s == seg for s in seg_keys])
        n = int(mask.sum())
        entry: dict[str, Any] = {"segment": seg, "n": n, "too_few_rows": n < min_rows,
                                 "selection_rate": float(pred[mask].mean())}
        if true is not None:
            pos = mask & true
            entry["n_positive"] = int(pos.sum())
            entry["true_positive_rate"] = float(pred[pos].mean()) if pos.any() else None
        per.append(entry)
    compared = [e for e in per if not e["too_few_rows"]]
    out: dict[str, Any] = {"positive": positive, "min_rows": min_rows, "segments": per,
                           "compared": [e["segment"] for e in compared]}
    out["demographic_parity_difference"] = _spread(compared, "selection_rate", "difference")
    out["disparate_impact_ratio"] = _spread(compared, "selection_rate", "ratio")
    out["equal_opportunity_difference"] = (
        _spread(compared, "true_positive_rate", "difference") if true is not None else None)
    for e in per:
        for key in ("selection_rate", "true_positive_rate"):
            if key in e:
                e[key] = rounded(e[key])
    return out


def _spread(entries: list[dict[str, Any]], key: str, kind: str) -> dict[str, Any] | None:
    valued = [e for e in entries if e.get(key) is not None]
    if len(valued) < 2:
        return None
    low = min(valued, key=lambda e: e[key])
    high = max(valued, key=lambda e: e[key])
    if kind == "difference":
        value = high[key] - low[key]
    else:
        value = low[key] / high[key] if high[key] > 0 else None
    return {"value": rounded(value), "lowest": low["segment"], "highest": high["segment"],
            "lowest_value": rounded(low[key]), "highest_value": rounded(high[key])}
