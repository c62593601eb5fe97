"""Evaluation on golden data sets: in-process or against the model's HTTP endpoint.

A golden data set is a table of inputs with a target column, registered per model (kept
as Parquet in the store). A run scores the model on every row, computes the task's
metrics with the same code as realised quality, and stores them with the version it ran
against. In-process, ``predict(frame) -> predictions`` gets the feature columns as a
pandas DataFrame. Against an endpoint, each row is POSTed as ``{"inputs": {...}}`` and the
answer is either the prediction itself or ``{"prediction": ..., "proba": ...}``; the
round trip of every request is measured (mean, p50, p95, max).
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from vigil.engine.quality.windows import CLASSIFICATION, class_value, metrics_for, prediction_value
from vigil.errors import InvalidParameterError, VigilError
from vigil.quality.results import EvaluationRun
from vigil.schema import Task
from vigil.store import ModelRecord, Store
from vigil.store.quality import queries as qs

MAX_ROWS = 100_000


def register_dataset(
    store: Store, model: ModelRecord, name: str, frame: Any, target: str
) -> tuple[dict[str, Any], bool]:
    """Store ``frame`` as golden data set ``name`` of ``model``; say whether it is new."""
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        raise InvalidParameterError(f"'name' must be a string of 1-200 characters. Got {name!r}.")
    if target not in frame.columns:
        raise InvalidParameterError(
            f"The target column {target!r} is not in the data set; columns: "
            f"{', '.join(map(str, frame.columns))}."
        )
    if len(frame) == 0 or len(frame) > MAX_ROWS:
        raise InvalidParameterError(f"A golden data set needs 1-{MAX_ROWS} rows. Got {len(frame)}.")
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    data = buf.getvalue()
    return qs.put_dataset(
        store,
        model.id,
        name,
        target,
        [str(c) for c in frame.columns],
        len(frame),
        data,
        hashlib.sha256(data).hexdigest(),
    )


def load_dataset(store: Store, model: ModelRecord, name: str) -> tuple[Any, dict[str, Any]]:
    """A stored golden data set as ``(DataFrame, metadata)``."""
    import pandas as pd

    meta = qs.get_dataset(store, model.id, name)
    frame = pd.read_parquet(io.BytesIO(meta.pop("data")))
    return frame, meta


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _records(features: Any) -> list[dict[str, Any]]:
    return [{k: _jsonable(v) for k, v in row.items()} for row in features.to_dict(orient="records")]


def predict_in_process(fn: Callable[[Any], Any], features: Any) -> tuple[list, list | None, dict]:
    """Call ``fn(features)`` once; return predictions, probabilities (if it returned
    ``{"prediction": [...], "proba": [...]}``) and the timing."""
    t0 = time.perf_counter()
    out = fn(features)
    seconds = time.perf_counter() - t0
    proba = None
    if isinstance(out, dict):
        proba = out.get("proba")
        out = out.get("prediction")
    preds = [_jsonable(v) for v in (out.tolist() if hasattr(out, "tolist") else list(out))]
    if len(preds) != len(features):
        raise InvalidParameterError(
            f"predict returned {len(preds)} predictions for {len(features)} rows."
        )
    if proba is not None:
        proba = proba.tolist() if hasattr(proba, "tolist") else list(proba)
    return preds, proba, {"total_s": round(seconds, 6), "per_row_s": seconds / len(features)}


def predict_endpoint(
    url: str, features: Any, *, timeout: float = 30.0, headers: dict[str, str] | None = None
) -> tuple[list, list | None, dict]:
    """POST each row to ``url``; return predictions, probabilities and round-trip times."""
    import httpx

    preds, probas, times = [], [], []
    with httpx.Client(timeout=timeout, headers=headers) as client:
        for i, rec in enumerate(_records(features)):
            t0 = time.perf_counter()
            try:
                resp = client.post(url, json={"inputs": rec})
            except httpx.HTTPError as exc:
                raise VigilError(f"The model endpoint {url} failed on row {i}: {exc}") from None
            times.append(time.perf_counter() - t0)
            if resp.status_code >= 400:
                raise VigilError(
                    f"The model endpoint {url} answered {resp.status_code} on row {i}: "
                    f"{resp.text[:200]}"
                )
            try:
                body = resp.json()
            except ValueError:
                raise VigilError(
                    f"The model endpoint {url} answered non-JSON on row {i}."
                ) from None
            probas.append(body.get("proba") if isinstance(body, dict) else None)
            preds.append(prediction_value(body))
    arr = np.asarray(times)
    latency = {
        "mean_s": round(float(arr.mean()), 6),
        "p50_s": round(float(np.median(arr)), 6),
        "p95_s": round(float(np.percentile(arr, 95)), 6),
        "max_s": round(float(arr.max()), 6),
        "requests": len(times),
    }
    return preds, (probas if all(p is not None for p in probas) else None), latency


def evaluate(
    store: Store,
    model: ModelRecord,
    dataset: str,
    *,
    version: str,
    predict: Callable[[Any], Any] | None = None,
    endpoint: str | None = None,
    alias: str | None = None,
    schedule_id: int | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Score ``model`` on golden data set ``dataset`` and store the run.

    Exactly one of ``predict`` (in-process) and ``endpoint`` (HTTP) is given. A failing
    model or endpoint is stored as a ``failed`` run with the error and returned.
    """
    if (predict is None) == (endpoint is None):
        raise InvalidParameterError("Give exactly one of a predict function and an endpoint.")
    frame, meta = load_dataset(store, model, dataset)
    task = Task(model.task)
    target = meta["target"]
    features = frame.drop(columns=[target])
    started = time.time()
    run: dict[str, Any] = {
        "dataset": dataset,
        "dataset_sha256": meta["sha256"],
        "version": version,
        "alias": alias,
        "mode": "in_process" if predict else "endpoint",
        "endpoint": endpoint,
        "started_at": started,
        "n_rows": len(frame),
        "schedule_id": schedule_id,
        "metrics": None,
        "latency": None,
        "error": None,
    }
    try:
        if predict is not None:
            preds, proba, latency = predict_in_process(predict, features)
        else:
            preds, proba, latency = predict_endpoint(
                endpoint,  # type: ignore[arg-type]
                features,
                headers=headers,
            )
        if task is Task.TEXT_GENERATION:  # golden Q/A: similarity to the reference answer
            from vigil.engine.genai.quality import golden_answer_metrics

            metrics = golden_answer_metrics(preds, [_jsonable(v) for v in frame[target].tolist()])
        else:
            rows = []
            for i, (actual, pred) in enumerate(zip(frame[target].tolist(), preds, strict=True)):
                actual, pred = _jsonable(actual), _jsonable(pred)
                if task in CLASSIFICATION:
                    actual, pred = class_value(actual), class_value(pred)
                rows.append(
                    {
                        "actual": actual,
                        "prediction": pred,
                        "proba": proba[i] if proba is not None else None,
                    }
                )
            metrics = metrics_for(task, rows)
        run.update(status="succeeded", metrics=metrics, latency=latency)
    except (VigilError, ValueError, TypeError, KeyError) as exc:
        message = exc.message if isinstance(exc, VigilError) else f"{type(exc).__name__}: {exc}"
        run.update(status="failed", error=message)
    except Exception as exc:  # the user's model raised: record it, do not crash the server
        run.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    run["finished_at"] = time.time()
    run["id"] = qs.insert_run(store, model.id, run)
    return EvaluationRun({"model": model.name, **run})
