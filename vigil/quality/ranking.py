"""Ranking and recommendation quality: precision@k, recall@k, NDCG@k, MRR, hit rate.

Each query has the model's ranked list of items and the relevant items, either a set
(binary relevance) or a mapping item → graded relevance. NDCG uses linear gains and
``1/log2(rank + 1)`` discounts, as scikit-learn's ``ndcg_score``; queries without any
relevant item score 0 NDCG (scikit-learn's convention) and are left out of recall@k.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from vigil.errors import InvalidParameterError
from vigil.quality._common import finite
from vigil.quality.results import QualityResult


def _relevance(relevant: Any, path: str) -> dict[Any, float]:
    if isinstance(relevant, Mapping):
        out = {}
        for item, grade in relevant.items():
            if isinstance(grade, bool) or not isinstance(grade, int | float) or grade < 0:
                raise InvalidParameterError(
                    f"{path}[{item!r}] must be a relevance grade >= 0. Got {grade!r}."
                )
            out[item] = float(grade)
        return out
    if isinstance(relevant, Iterable) and not isinstance(relevant, str | bytes):
        return dict.fromkeys(relevant, 1.0)
    raise InvalidParameterError(
        f"{path} must be a list of relevant items or a mapping item -> grade. "
        f"Got {type(relevant).__name__}."
    )


def ranking_metrics(
    ranked: Sequence[Sequence[Any]], relevant: Sequence[Any], k: int = 10
) -> dict[str, Any]:
    """Mean precision@k, recall@k, NDCG@k, MRR and hit rate@k over queries.

    Args:
        ranked: per query, the items the model returned, best first.
        relevant: per query, the relevant items (a list/set, or a mapping item → grade).
        k: cut-off.

    Examples:
        >>> m = ranking_metrics([["a", "b", "c"], ["x", "y", "z"]], [{"b"}, {"q"}], k=2)
        >>> m["precision_at_k"], m["recall_at_k"], m["mrr"], m["hit_rate"]
        (0.25, 0.5, 0.25, 0.5)
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidParameterError(f"'k' must be an integer >= 1. Got {k!r}.")
    if len(ranked) != len(relevant):
        raise InvalidParameterError(
            f"'ranked' and 'relevant' need one entry per query. Got {len(ranked)} and "
            f"{len(relevant)}."
        )
    if not ranked:
        raise InvalidParameterError("No queries; ranking metrics need at least one.")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    prec, rec, ndcg, rr, hit = [], [], [], [], []
    for i, (items, rel) in enumerate(zip(ranked, relevant, strict=True)):
        if isinstance(items, str | bytes) or not isinstance(items, Sequence):
            raise InvalidParameterError(f"ranked[{i}] must be a list of items, best first.")
        grades = _relevance(rel, f"relevant[{i}]")
        relevant_items = {item for item, g in grades.items() if g > 0}
        top = list(items[:k])
        gains = np.array([grades.get(item, 0.0) for item in top])
        hits = [item in relevant_items for item in top]
        prec.append(sum(hits) / k)
        if relevant_items:
            rec.append(sum(hits) / len(relevant_items))
        hit.append(float(any(hits)))
        first = next((r for r, item in enumerate(items, 1) if item in relevant_items), None)
        rr.append(1.0 / first if first else 0.0)
        ideal = np.sort(np.fromiter(grades.values(), dtype=np.float64))[::-1][:k]
        idcg = float((ideal * discounts[: len(ideal)]).sum())
        dcg = float((gains * discounts[: len(gains)]).sum())
        ndcg.append(dcg / idcg if idcg > 0 else 0.0)
    return QualityResult(
        {
            "n": len(ranked),
            "k": k,
            "precision_at_k": finite(np.mean(prec)),
            "recall_at_k": finite(np.mean(rec)) if rec else None,
            "ndcg_at_k": finite(np.mean(ndcg)),
            "mrr": finite(np.mean(rr)),
            "hit_rate": finite(np.mean(hit)),
        },
        title="Ranking metrics",
    )
