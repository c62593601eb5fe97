"""Fairness across segments: demographic parity, equal opportunity, equalised odds,
disparate impact.

For a binary decision (``positive`` predicted or not) per segment: the selection rate
``P(ŷ = positive)``, the true positive rate ``P(ŷ = positive | y = positive)`` and the
false positive rate ``P(ŷ = positive | y ≠ positive)``. The differences are max − min
over the segments compared; the equalised-odds difference is the larger of the TPR and
FPR differences (as fairlearn's ``equalized_odds_difference``); the disparate-impact ratio
is min / max of the selection rates (the "four-fifths rule" flags a ratio below 0.8), and
each result names the segments at both ends. Segments with fewer than ``min_rows`` rows
are listed with ``too_few_rows: true`` and left out of the comparison. Segments keep
their type: ``1`` and ``"1"`` are two segments.

References:
    Hardt, Price, Srebro (2016). Equality of opportunity in supervised learning. NeurIPS.
    US EEOC Uniform Guidelines (1978), 29 CFR 1607.4(D): the four-fifths rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vigil.errors import InvalidParameterError
from vigil.quality._common import finite
from vigil.quality.results import QualityResult


def fairness_metrics(
    y_pred: Sequence[Any],
    segments: Sequence[Any],
    *,
    y_true: Sequence[Any] | None = None,
    positive: Any = 1,
    min_rows: int = 30,
) -> dict[str, Any]:
    """Selection rate and TPR per segment, with parity differences between segments.

    Args:
        y_pred: predicted classes.
        segments: the segment of each row (e.g. a categorical input's value).
        y_true: true classes; needed for equal opportunity and equalised odds.
        positive: the favourable class.
        min_rows: segments with fewer rows are marked and not compared.

    Examples:
        >>> m = fairness_metrics([1, 0, 1, 1, 0, 0], ["a", "a", "a", "b", "b", "b"],
        ...                      min_rows=1)
        >>> dpd = m["demographic_parity_difference"]["value"]
        >>> round(dpd, 3), m["disparate_impact_ratio"]["value"]
        (0.333, 0.5)
    """
    if len(y_pred) != len(segments) or (y_true is not None and len(y_true) != len(y_pred)):
        raise InvalidParameterError("'y_pred', 'segments' and 'y_true' must have equal lengths.")
    pred = np.array([v == positive for v in y_pred])
    true = None if y_true is None else np.array([v == positive for v in y_true])
    seg_keys = [segment_key(s) for s in segments]
    values = dict(zip(seg_keys, segments, strict=True))
    per: list[dict[str, Any]] = []
    for seg in sorted(values, key=lambda k: (k[0], str(k[1]))):
        mask = np.array([s == seg for s in seg_keys])
        n = int(mask.sum())
        entry: dict[str, Any] = {
            "segment": values[seg],
            "n": n,
            "too_few_rows": n < min_rows,
            "selection_rate": float(pred[mask].mean()),
        }
        if true is not None:
            pos, neg = mask & true, mask & ~true
            entry["n_positive"] = int(pos.sum())
            entry["true_positive_rate"] = float(pred[pos].mean()) if pos.any() else None
            entry["false_positive_rate"] = float(pred[neg].mean()) if neg.any() else None
        per.append(entry)
    compared = [e for e in per if not e["too_few_rows"]]
    out: dict[str, Any] = {
        "positive": positive,
        "min_rows": min_rows,
        "segments": per,
        "compared": [e["segment"] for e in compared],
    }
    out["demographic_parity_difference"] = _spread(compared, "selection_rate", "difference")
    out["disparate_impact_ratio"] = _spread(compared, "selection_rate", "ratio")
    out["equal_opportunity_difference"] = (
        _spread(compared, "true_positive_rate", "difference") if true is not None else None
    )
    out["equalized_odds_difference"] = _equalized_odds(compared) if true is not None else None
    for e in per:
        for key in ("selection_rate", "true_positive_rate", "false_positive_rate"):
            if key in e:
                e[key] = finite(e[key])
    return QualityResult(out, title="Fairness across segments")


def segment_key(value: Any) -> tuple[str, Any]:
    """A key that keeps a segment's type: ``1``, ``1.0``, ``True`` and ``"1"`` differ."""
    if value is None or isinstance(value, str | int | float | bool):
        return type(value).__name__, value
    return type(value).__name__, repr(value)


def _equalized_odds(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    tpr = _spread(entries, "true_positive_rate", "difference")
    fpr = _spread(entries, "false_positive_rate", "difference")
    if tpr is None or fpr is None:
        return None
    worst = tpr if tpr["value"] >= fpr["value"] else fpr
    return {
        **worst,
        "rate": "true_positive_rate" if worst is tpr else "false_positive_rate",
        "true_positive_rate_difference": tpr["value"],
        "false_positive_rate_difference": fpr["value"],
    }


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
    return {
        "value": finite(value),
        "lowest": low["segment"],
        "highest": high["segment"],
        "lowest_value": finite(low[key]),
        "highest_value": finite(high[key]),
    }
