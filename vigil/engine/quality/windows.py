"""Realised and estimated quality of a model over windows, versions and segments.

Labels join predictions by id at query time, so a label counts the same whether it came
before its prediction or weeks after. Rows are windowed by prediction time. A label whose
type does not fit the model's task (a dict for a classifier, a string for a regressor) is
left out and counted with the reason, never silently coerced.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from vigil.engine.windows.metrics import window_range
from vigil.errors import InvalidParameterError
from vigil.quality import (
    CBPE,
    classification_metrics,
    fairness_metrics,
    ranking_metrics,
    regression_metrics,
    text_quality,
)
from vigil.quality.fairness import segment_key
from vigil.schema import ModelSchema, Task
from vigil.store import ModelRecord, Store
from vigil.store.quality import queries as qs

CLASSIFICATION = (Task.BINARY_CLASSIFICATION, Task.MULTICLASS_CLASSIFICATION)
MIN_ROWS = 30
MAX_POINTS = 2000
MAX_TEXT_ROWS = 5000
_QUERY_KEYS = ("prompt", "query", "question", "input", "text", "message")
_OUTPUT_KEYS = ("prediction", "label", "class", "value", "output")


def prediction_value(outputs: Any) -> Any:
    """The prediction inside a stored ``outputs`` (a scalar, a list, or a dict holding one
    of ``prediction``, ``label``, ``class``, ``value``, ``output``)."""
    if isinstance(outputs, Mapping):
        for key in _OUTPUT_KEYS:
            if key in outputs:
                return outputs[key]
        return None
    return outputs


def class_value(value: Any) -> Any:
    """A class label as compared: booleans become 0/1, integral floats become ints."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def check_actual(task: Task, actual: Any) -> str | None:
    """Why ``actual`` cannot be a label of ``task`` (None when it can)."""
    if task in CLASSIFICATION:
        ok = isinstance(actual, str | int | bool) or (
            isinstance(actual, float) and actual.is_integer()
        )
        return None if ok else f"a class label must be a string or integer, got {actual!r}"
    if task is Task.REGRESSION:
        ok = (
            isinstance(actual, int | float)
            and not isinstance(actual, bool)
            and math.isfinite(actual)
        )
        return None if ok else f"a regression label must be a finite number, got {actual!r}"
    if task is Task.RANKING:
        ok = isinstance(actual, list | dict)
        return (
            None
            if ok
            else f"a ranking label must be a list or mapping of relevant items, got {actual!r}"
        )
    return None


def _proba_row(p: Any, classes: list[Any]) -> list[float] | None:
    """One prediction's probabilities over ``classes`` (None when not usable)."""
    k = len(classes)
    if isinstance(p, int | float) and not isinstance(p, bool):
        return [1.0 - float(p), float(p)] if k == 2 else None
    if isinstance(p, list):
        return [float(v) for v in p] if len(p) == k else None
    if isinstance(p, Mapping) and all(str(c) in p for c in classes):
        return [float(p[str(c)]) for c in classes]
    return None


def _proba_matrix(rows: Sequence[dict[str, Any]], classes: list[Any]) -> list[list[float]] | None:
    """Probabilities as rows over ``classes``, or None unless every row has usable ones."""
    out = []
    for row in rows:
        p = row["_p"] if "_p" in row else _proba_row(row.get("proba"), classes)
        if p is None:
            return None
        out.append(p)
    return out


def _classes(values: Sequence[Any], declared: Any = None) -> list[Any]:
    if isinstance(declared, list) and declared:
        return [class_value(c) for c in declared]
    uniq = set(values)
    try:
        return sorted(uniq)
    except TypeError:
        return sorted(uniq, key=str)


def metrics_for(
    task: Task, rows: Sequence[dict[str, Any]], *, classes: list[Any] | None = None, k: int = 10
) -> dict[str, Any]:
    """The realised metrics of ``task`` on joined rows (``prediction`` and ``actual`` set)."""
    if not rows:
        return {"n": 0}
    if task in CLASSIFICATION:
        y = [r["actual"] for r in rows]
        p = [r["prediction"] for r in rows]
        classes = classes or _classes(y + p)
        if task is Task.BINARY_CLASSIFICATION and len(classes) == 1:
            classes = [0, 1] if classes[0] in (0, 1) else classes
        proba = _proba_matrix(rows, classes)
        extra = [c for c in set(y + p) if c not in classes]
        if extra:
            classes = _classes(list(classes) + extra)
            proba = None
        return classification_metrics(y, p, proba, classes=classes)
    if task is Task.REGRESSION:
        return regression_metrics([r["actual"] for r in rows], [r["prediction"] for r in rows])
    if task is Task.RANKING:
        return ranking_metrics([r["prediction"] for r in rows], [r["actual"] for r in rows], k=k)
    raise InvalidParameterError(
        f"Realised quality needs a classification, regression or ranking task; this model's "
        f"task is {task.value}. Change it with POST /api/v1/models."
    )


def prepare(task: Task, raw: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict]:
    """Rows ready for :func:`metrics_for`, and what was left out and why."""
    rows, invalid, no_prediction = [], [], 0
    for r in raw:
        reason = check_actual(task, r["actual"])
        if reason:
            invalid.append({"prediction_id": r["id"], "reason": reason})
            continue
        pred = prediction_value(r["outputs"])
        bad = check_actual(task, pred) if pred is not None else "no prediction"
        if bad:
            no_prediction += 1
            continue
        if task in CLASSIFICATION:
            row = {**r, "actual": class_value(r["actual"]), "prediction": class_value(pred)}
        else:
            row = {**r, "prediction": pred}
        rows.append(row)
    return rows, {
        "invalid": len(invalid),
        "invalid_examples": invalid[:5],
        "no_prediction": no_prediction,
    }


def segment_value(inputs: Any, segment: str) -> Any:
    """The row's value of the segment input, type kept (None when missing)."""
    value = inputs.get(segment) if isinstance(inputs, Mapping) else None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _without_matrix(m: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in m.items() if k != "confusion_matrix"}


def quality_report(
    store: Store,
    model: ModelRecord,
    *,
    start: float | None = None,
    end: float | None = None,
    step: int | None = None,
    version: str | None = None,
    segment: str | None = None,
    min_rows: int = MIN_ROWS,
    k: int = 10,
    positive: Any = None,
    live_text: bool = True,
) -> dict[str, Any]:
    """Realised quality (whole range, per window, per version, per segment, fairness),
    estimated quality (CBPE, when a reference is fitted), feedback and concept drift.
    Text models get ``answers`` (the stored per-answer scores per window, see
    :func:`vigil.engine.genai.quality.answer_series`) and, with ``live_text``, ``text``
    (the measures computed now on the newest answers).

    Args:
        store: the store.
        model: the model.
        start: unix seconds (default ``end`` − 24 h).
        end: unix seconds (default now).
        step: window seconds, a multiple of 60 (default about 24 windows).
        version: only this version.
        segment: an input field whose values split the rows (e.g. ``"plan"``): metrics
            per segment and fairness over the range, and per window in
            ``segment_series``.
        min_rows: segments and windows with fewer labelled rows are marked
            ``too_few_rows``.
        k: cut-off of ranking metrics.
        positive: favourable class for fairness (default the second class).
    """
    start, end, step = window_range(
        start, end, step, default_span_s=86400.0, target_windows=24, max_windows=MAX_POINTS
    )
    if not isinstance(min_rows, int) or min_rows < 1:
        raise InvalidParameterError(f"'min_rows' must be an integer >= 1. Got {min_rows!r}.")
    task = Task(model.task)
    out: dict[str, Any] = {
        "model": model.name,
        "task": task.value,
        "start": start,
        "end": end,
        "step": step,
        "version": version,
        "segment": segment,
        "min_rows": min_rows,
    }
    raw = qs.labelled_predictions(store, model.id, start, end, version)
    rows, left_out = prepare(task, raw)
    out["labels"] = {
        "joined": len(raw),
        "used": len(rows),
        **left_out,
        "unmatched": qs.unmatched_labels(store, model.id),
    }
    if task in (*CLASSIFICATION, Task.REGRESSION, Task.RANKING):
        out.update(_realised(task, rows, step, segment, min_rows, k, positive))
    elif task is Task.TEXT_GENERATION:
        from vigil.engine.genai.quality import (
            answer_series,
            backend_ready,
            backend_status,
            score_range,
        )

        # windows the background job has not reached (none while the text model loads:
        # a request never waits for it, the answer says so)
        ready = backend_ready()
        score_range(store, model, start, end, wait=False)
        out["answers"] = answer_series(store, model, start, end, step, version)
        out["answers"]["backend"] = backend_status()
        out["answers"]["scoring"] = "done" if ready else "pending"
        if live_text:  # None while the text model loads
            out["text"] = text_report(store, model, start, end, version) if ready else None
    out["estimated"] = estimated_quality(store, model, start, end, step, version)
    out["feedback"] = feedback_summary(store, model, start, end, step, version)
    out["concept_drift"] = {"events": qs.drift_events(store, model.id, start, end, version)}
    return out


def _realised(
    task: Task,
    rows: list[dict[str, Any]],
    step: int,
    segment: str | None,
    min_rows: int,
    k: int,
    positive: Any,
) -> dict[str, Any]:
    classes = None
    if task in CLASSIFICATION and rows:
        classes = _classes([r["actual"] for r in rows] + [r["prediction"] for r in rows])
        if task is Task.BINARY_CLASSIFICATION and len(classes) == 1 and classes[0] in (0, 1):
            classes = [0, 1]
        for r in rows:  # parsed once, reused by every window, version and segment
            r["_p"] = _proba_row(r["proba"], classes)
    summary = metrics_for(task, rows, classes=classes, k=k)
    out: dict[str, Any] = {"realised": summary}
    by_window: dict[int, list] = defaultdict(list)
    by_version: dict[str, list] = defaultdict(list)
    for r in rows:
        by_window[int(r["ts"] // step) * step].append(r)
        by_version[r["version"]].append(r)
    out["series"] = [
        {
            "ts": ts,
            "too_few_rows": len(w) < min_rows,
            **_without_matrix(metrics_for(task, w, classes=classes, k=k)),
        }
        for ts, w in sorted(by_window.items())
    ]
    out["versions"] = {
        v: _without_matrix(metrics_for(task, w, classes=classes, k=k))
        for v, w in sorted(by_version.items())
    }
    if segment is not None:
        by_segment: dict[tuple[str, Any], list] = defaultdict(list)
        for r in rows:
            by_segment[segment_key(segment_value(r["inputs"], segment))].append(r)
        out["segments"] = [
            {
                "segment": key[1],
                "too_few_rows": len(w) < min_rows,
                **_without_matrix(metrics_for(task, w, classes=classes, k=k)),
            }
            for key, w in sorted(by_segment.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))
        ]
        fav = None
        if task in CLASSIFICATION and rows:
            fav = class_value(positive if positive is not None else classes[-1])  # type: ignore[index]
            out["fairness"] = _fairness(rows, segment, fav, min_rows)
        out["segment_series"] = [
            {"ts": ts, **segment_window(task, w, segment, classes, min_rows, k, fav)}
            for ts, w in sorted(by_window.items())
        ]
    return out


def _fairness(
    rows: Sequence[dict[str, Any]], segment: str, positive: Any, min_rows: int
) -> dict[str, Any]:
    return fairness_metrics(
        [r["prediction"] for r in rows],
        [segment_value(r["inputs"], segment) for r in rows],
        y_true=[r["actual"] for r in rows],
        positive=positive,
        min_rows=min_rows,
    )


def segment_window(
    task: Task,
    rows: Sequence[dict[str, Any]],
    segment: str,
    classes: list[Any] | None,
    min_rows: int,
    k: int,
    positive: Any = None,
) -> dict[str, Any]:
    """One window's realised metrics per segment and, for classification (``positive``
    set), its fairness across segments: the per-window form of ``segments`` and
    ``fairness``, so a disparity that opens within the range shows when it opened."""
    groups: dict[tuple[str, Any], list] = defaultdict(list)
    for r in rows:
        groups[segment_key(segment_value(r["inputs"], segment))].append(r)
    out: dict[str, Any] = {
        "n": len(rows),
        "segments": [
            {
                "segment": key[1],
                "too_few_rows": len(w) < min_rows,
                **_without_matrix(metrics_for(task, w, classes=classes, k=k)),
            }
            for key, w in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1])))
        ],
    }
    if positive is not None and rows:
        out["fairness"] = _fairness(rows, segment, positive, min_rows)
    return out


def text_report(
    store: Store, model: ModelRecord, start: float, end: float, version: str | None = None
) -> dict[str, Any] | None:
    """Text-answer quality of the newest :data:`MAX_TEXT_ROWS` predictions of the range:
    the query is the model's first text feature (or an input named prompt, query,
    question, ...), the response its string output."""
    schema = ModelSchema.from_dict(model.schema)
    text_features = [f.name for f in schema.features if f.kind.value == "text"]
    rows = qs.predictions(store, model.id, start, end, version)[-MAX_TEXT_ROWS:]
    queries, responses = [], []
    for r in rows:
        inputs = r["inputs"] if isinstance(r["inputs"], Mapping) else {}
        key = next(
            (k for k in (*text_features, *_QUERY_KEYS) if isinstance(inputs.get(k), str)), None
        )
        answer = prediction_value(r["outputs"])
        if key is not None and isinstance(answer, str):
            queries.append(inputs[key])
            responses.append(answer)
    if not queries:
        return None
    return text_quality(queries, responses)


def fit_reference(
    store: Store,
    model: ModelRecord,
    *,
    start: float | None = None,
    end: float | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """Fit CBPE on the labelled predictions with probabilities in ``[start, end)`` and
    store it as the model's reference."""
    task = Task(model.task)
    if task not in CLASSIFICATION:
        raise InvalidParameterError(
            f"Estimated quality (CBPE) needs a classifier; this model's task is {task.value}."
        )
    raw = qs.labelled_predictions(store, model.id, start, end, version)
    rows, _ = prepare(task, raw)
    classes = _classes([r["actual"] for r in rows] + [r["prediction"] for r in rows])
    if task is Task.BINARY_CLASSIFICATION and len(classes) == 1 and classes[0] in (0, 1):
        classes = [0, 1]
    proba = _proba_matrix(rows, classes)
    if not rows or proba is None:
        raise InvalidParameterError(
            f"CBPE needs labelled predictions with probabilities ('proba' per prediction, "
            f"one per class {classes}); {len(rows)} labelled rows here, not all with proba."
        )
    est = CBPE.fit(
        [r["actual"] for r in rows], [r["prediction"] for r in rows], proba, classes=classes
    )
    qs.save_reference(store, model.id, est.to_dict(), len(rows))
    return {
        "model": model.name,
        "n_rows": len(rows),
        "classes": classes,
        "reference_metrics": est.reference_metrics,
    }


def estimated_quality(
    store: Store,
    model: ModelRecord,
    start: float,
    end: float,
    step: int,
    version: str | None = None,
    *,
    with_series: bool = True,
) -> dict[str, Any] | None:
    """CBPE estimates over the whole range and per window (None without a reference)."""
    saved = qs.load_reference(store, model.id)
    if saved is None:
        return None
    est = CBPE.from_dict(saved["state"])
    task = Task(model.task)
    rows = qs.predictions(store, model.id, start, end, version)
    known = set(est.classes)
    usable = []
    for r in rows:
        pred = prediction_value(r["outputs"])
        if pred is None or check_actual(task, pred) is not None:
            continue
        pred = class_value(pred)
        p = _proba_row(r["proba"], est.classes) if pred in known else None
        if p is not None:
            usable.append({"ts": r["ts"], "prediction": pred, "p": p})
    out: dict[str, Any] = {
        "method": "cbpe",
        "reference_rows": saved["n_rows"],
        "reference_metrics": saved["state"].get("reference_metrics"),
        "n": len(usable),
        "skipped": len(rows) - len(usable),
    }
    if not usable:
        return {**out, "summary": None, "series": []}
    out["summary"] = est.estimate([r["prediction"] for r in usable], [r["p"] for r in usable])
    if not with_series:
        return out
    by_window: dict[int, list] = defaultdict(list)
    for r in usable:
        by_window[int(r["ts"] // step) * step].append(r)
    out["series"] = [
        {"ts": ts, **est.estimate([r["prediction"] for r in w], [r["p"] for r in w], n_draws=100)}
        for ts, w in sorted(by_window.items())
    ]
    return out


def feedback_summary(
    store: Store,
    model: ModelRecord,
    start: float,
    end: float,
    step: int,
    version: str | None = None,
    negative_at: float = 0.0,
) -> dict[str, Any]:
    """Feedback count, mean score and negative rate (score <= ``negative_at``), overall
    and per window of feedback time."""
    rows = qs.feedback(store, model.id, start, end)
    if version is not None:
        rows = [r for r in rows if r["version"] == version]

    def point(items: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(items)
        return {
            "count": n,
            "score_mean": sum(r["score"] for r in items) / n if n else None,
            "negative_rate": sum(r["score"] <= negative_at for r in items) / n if n else None,
        }

    by_window: dict[int, list] = defaultdict(list)
    for r in rows:
        by_window[int(r["ts"] // step) * step].append(r)
    return {
        **point(rows),
        "negative_at": negative_at,
        "series": [{"ts": ts, **point(w)} for ts, w in sorted(by_window.items())],
    }
