"""Scores of each prediction's inputs at ingest: out of distribution, prompt injection.

:class:`InputScorer` runs in the ingest hook before redaction (so injection heuristics see
the raw text) and stores one row per prediction in ``prediction_scores``. A model is
scored against its stored reference (``POST /api/v1/models/{m}/reference``) with an
:class:`~vigil.audit.ood.OODScorer` fitted once and cached; its text features get
:func:`~vigil.audit.injection.score_injection`. A model with neither costs a cached dict
lookup. The ``ood_rate`` and ``injection_rate`` metrics let rules alert on both.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vigil.audit.injection import score_injection
from vigil.audit.ood import OODScorer
from vigil.engine.metric_sources import register_metric
from vigil.schema import FeatureKind, ModelSchema
from vigil.store import ModelRecord, Store
from vigil.store.privacy.scores import add_scores, flagged_share
from vigil.store.references.queries import get_reference, reference_time

log = logging.getLogger("vigil.audit")
FIT_ROWS = 20_000  # reference rows the OOD scorer is fitted on (a seeded sample)


@dataclass(frozen=True, slots=True)
class _Plan:
    ood: OODScorer | None
    text: tuple[str, ...]


class InputScorer:
    """Scores prediction rows' inputs and stores the scores (see the module docstring)."""

    def __init__(self, store: Store, ttl_s: float = 60.0) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._plans: dict[int, tuple[float, float | None, _Plan | None]] = {}
        self._lock = threading.Lock()

    def invalidate(self, model_id: int | None = None) -> None:
        with self._lock:
            if model_id is None:
                self._plans.clear()
            else:
                self._plans.pop(model_id, None)

    def _plan(self, model: ModelRecord) -> _Plan | None:
        """The model's cached plan; after ``ttl_s`` only the reference's time is re-read,
        and the scorer is fitted again only when the reference changed."""
        now = time.monotonic()
        cached = self._plans.get(model.id)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[2]
        stamp = reference_time(self.store, model.id)
        unchanged = cached is not None and cached[1] == stamp
        plan = cached[2] if unchanged else self._build(model, stamp)  # type: ignore[index]
        with self._lock:
            self._plans[model.id] = (now, stamp, plan)
        return plan

    def _build(self, model: ModelRecord, stamp: float | None) -> _Plan | None:
        schema = ModelSchema.from_dict(model.schema)
        text = tuple(f.name for f in schema.features if f.kind is FeatureKind.TEXT)
        ood = None
        if stamp is not None:
            try:
                ood = _fit_reference(self.store, model)
            except Exception:  # a reference that cannot be fitted must not stop ingest
                log.exception("could not fit the OOD scorer of model %s", model.name)
        return _Plan(ood, text) if ood is not None or text else None

    def __call__(self, model: ModelRecord, rows: Sequence[dict[str, Any]]) -> None:
        plan = self._plan(model)
        if plan is None or not rows:
            return
        out = []
        all_inputs = [r["inputs"] if isinstance(r["inputs"], dict) else {} for r in rows]
        ood = plan.ood.score(all_inputs) if plan.ood is not None else None
        for i, row in enumerate(rows):
            inputs = all_inputs[i]
            entry: dict[str, Any] = {
                "prediction_id": row["id"],
                "model_id": model.id,
                "version": row["version"],
                "ts": row["ts"],
                "ood_score": None,
                "ood": None,
                "injection_score": None,
                "flags": None,
            }
            flags: list[str] = []
            if ood is not None:
                result = ood[i]
                entry["ood_score"], entry["ood"] = result.score, result.is_ood
                flags.extend(_without_values(result.flags))
            texts = [inputs.get(name) for name in plan.text]
            scored = [score_injection(t) for t in texts if isinstance(t, str)]
            if scored:
                worst = max(scored, key=lambda s: s.score)
                entry["injection_score"] = worst.score
                flags.extend(f"injection: {s}" for s in worst.signals)
            entry["flags"] = flags or None
            if ood is not None or entry["injection_score"]:  # rows with no signal: no row
                out.append(entry)
        add_scores(self.store, out)


def _without_values(flags: tuple[str, ...]) -> list[str]:
    """OOD flags naming the feature and the problem only: a stored flag must not carry
    an input value that the redaction policy would have removed."""
    out = []
    for flag in flags:
        name = flag.split(":", 1)[0]
        out.append(f"ood: {name} {'unseen category' if 'never seen' in flag else 'out of range'}")
    return out


def _fit_reference(store: Store, model: ModelRecord) -> OODScorer | None:
    reference = get_reference(store, model.id)
    if reference is None or not reference.sample:
        return None
    import pandas as pd

    frame = pd.read_parquet(io.BytesIO(reference.sample))
    if len(frame) > FIT_ROWS:
        frame = frame.sample(n=FIT_ROWS, random_state=0)
    return OODScorer().fit(frame) if len(frame) >= 2 else None


def _rate(column: str, threshold: float | None) -> Any:
    """Flagged rows per prediction of the window (unscored predictions count as clean:
    texts without any injection signal store no score row)."""

    def metric(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        return flagged_share(store, model.id, version, start, end, column, threshold)

    return metric


register_metric(
    "ood_rate",
    _rate("ood_score", None),
    "Share of predictions whose inputs are out of distribution (vs the reference).",
    unit="ratio",
    replace=True,
)
register_metric(
    "injection_rate",
    _rate("injection_score", 0.5),
    "Share of predictions whose text inputs look like prompt injection.",
    unit="ratio",
    replace=True,
)
