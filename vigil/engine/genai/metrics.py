"""Language-model calls over windows: tokens in and out, cost and time to first token.

:func:`genai_summary` answers ``GET /api/v1/models/{m}/genai``; the rule metrics
``tokens_input``, ``tokens_output``, ``tokens_total``, ``cost_total``, ``ttft_p50``,
``ttft_p95`` and the answer-quality ones (``answers_relevance_mean``, ...; see
:func:`vigil.engine.genai.quality.window_answer_metrics`) are registered here (this module
is listed in :data:`vigil.engine.metric_sources.PROVIDER_MODULES`); they are None for
models of another task than ``text_generation``, so comparing classifiers' versions
costs nothing here. Everything is computed
from the stored predictions (:mod:`vigil.store.genai.queries`: sums added up by the
database, quantiles from the values, exact: linear interpolation between order statistics,
numpy's default).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from prometheus_client.core import GaugeMetricFamily

from vigil.engine.collectors import CachedCollector
from vigil.engine.genai.quality import summarise_scores, window_answer_metrics
from vigil.engine.metric_sources import register_metric
from vigil.engine.windows.metrics import window_range
from vigil.schema import Task
from vigil.store import ModelRecord, Store
from vigil.store.genai.answers import stored_scores
from vigil.store.genai.queries import genai_columns, genai_sums

log = logging.getLogger("vigil.genai")

TEXT_GENERATION = Task.TEXT_GENERATION.value  # the rule metrics are None for other tasks
_ALL = slice(None)


def summarise(columns: Mapping[str, Any], rows: slice | np.ndarray = _ALL) -> dict[str, Any]:
    """Counts, token sums, cost and TTFT/latency quantiles of some calls.

    Args:
        columns: as :func:`vigil.store.genai.queries.genai_columns` returns them (NaN: absent).
        rows: which calls (a slice or a boolean mask); all by default.

    Sums are None when no call carries the number (a model without token counts is not
    a model that used no tokens).

    Examples:
        >>> nan = float("nan")
        >>> s = summarise({"error": np.array([False, True]),
        ...                "latency_s": np.array([1.0, 3.0]),
        ...                "input_tokens": np.array([10.0, 4.0]),
        ...                "output_tokens": np.array([5.0, nan]),
        ...                "cost": np.array([nan, nan]), "ttft_s": np.array([0.2, 0.4])})
        >>> s["calls"], s["errors"], s["input_tokens"], s["total_tokens"], s["cost"]
        (2, 1, 14, 19, None)
        >>> round(s["ttft_p50_s"], 3), round(s["latency_p95_s"], 3)
        (0.3, 2.9)
    """
    error = columns["error"][rows]
    out: dict[str, Any] = {"calls": int(error.size), "errors": int(error.sum())}
    for key in ("input_tokens", "output_tokens", "cost"):
        values = columns[key][rows]
        known = values[~np.isnan(values)]
        out[key] = (
            None if not known.size else (float(known.sum()) if key == "cost" else int(known.sum()))
        )
        if key == "cost":
            out["priced_calls"] = int(known.size)
    known_tokens = [out[k] for k in ("input_tokens", "output_tokens") if out[k] is not None]
    out["total_tokens"] = sum(known_tokens) if known_tokens else None
    for key, name in (("ttft_s", "ttft"), ("latency_s", "latency")):
        values = columns[key][rows]
        values = values[~np.isnan(values)]
        for q in (50, 95):
            out[f"{name}_p{q}_s"] = float(np.percentile(values, q)) if values.size else None
    return out


def genai_summary(
    store: Store,
    model: ModelRecord,
    *,
    start: float | None = None,
    end: float | None = None,
    step: int | None = None,
    version: str | None = None,
) -> dict[str, Any]:
    """The model's calls over ``[start, end)``: a summary and one point per ``step``
    window (windows without calls are left out).

    Args:
        store: the store.
        model: the model.
        start: unix seconds (default ``end`` − 1 h).
        end: unix seconds (default now).
        step: window seconds, a multiple of 60 (default about 60 windows).
        version: only this version.
    """
    start, end, step = window_range(start, end, step)
    columns = genai_columns(store, model.id, start, end, version)
    # rows come ordered by time, so each window is a slice
    windows = (columns["ts"] // step).astype(np.int64) * step
    starts = (
        np.flatnonzero(np.r_[True, windows[1:] != windows[:-1]])
        if windows.size
        else np.empty(0, dtype=np.int64)
    )
    bounds = [*starts, windows.size]
    series = [
        {"ts": int(windows[a]), **summarise(columns, slice(a, b))}
        for a, b in itertools.pairwise(bounds)
    ]
    versions = np.array(columns["version"], dtype=object)
    return {
        "model": model.name,
        "version": version,
        "start": start,
        "end": end,
        "step": step,
        "summary": summarise(columns),
        "series": series,
        "versions": {v: summarise(columns, versions == v) for v in sorted(set(versions))},
    }


def _sum(key: str) -> Any:
    def metric(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        if model.task != TEXT_GENERATION:
            return None
        fields = ("input_tokens", "output_tokens") if key == "total_tokens" else (key,)
        sums = genai_sums(store, model.id, start, end, version, fields)
        if key != "total_tokens":
            return sums[key]
        known = [sums[k] for k in ("input_tokens", "output_tokens") if sums[k] is not None]
        return float(sum(known)) if known else None

    metric.__name__ = key
    return metric


def _ttft(q: int) -> Any:
    def metric(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        if model.task != TEXT_GENERATION:
            return None
        values = genai_columns(store, model.id, start, end, version, ("ttft_s",))["ttft_s"]
        values = values[~np.isnan(values)]
        return float(np.percentile(values, q)) if values.size else None

    metric.__name__ = f"ttft_p{q}"
    return metric


class AnswerQualityCollector(CachedCollector):
    """``vigil_answers{model_name, model_version, metric}`` on ``/metrics``: the stored
    answer scores of the last hour per text model and version (relevance mean and p10,
    consistency, refusal, injection and OOD rates, ...), read at most every ``ttl_s``."""

    what = "answer-quality gauges"
    logger = log

    def families(self) -> list[GaugeMetricFamily]:
        return [self._family()]

    def _family(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "vigil_answers",
            "Answer quality of text models over the last hour (stored "
            "per-answer scores; 'answers' is their count).",
            labels=["model_name", "model_version", "metric"],
        )
        end = time.time()
        for model in self.store.list_models():
            if model.task != TEXT_GENERATION:
                continue
            by_version: dict[str, list[dict[str, Any]]] = {}
            for row in stored_scores(self.store, model.id, end - 3600.0, end):
                by_version.setdefault(row["version"], []).append(row)
            for version, rows in sorted(by_version.items()):
                for metric, value in summarise_scores(rows).items():
                    if value is not None:
                        family.add_metric([model.name, version, metric], float(value))
        return family


def install_answer_gauges(registry: Any, store: Store) -> None:
    """Add :class:`AnswerQualityCollector` to a Prometheus registry."""
    registry.register(AnswerQualityCollector(store))


def _answers(key: str) -> Any:
    def metric(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        if model.task != TEXT_GENERATION:
            return None
        values = window_answer_metrics(store, model, version, start, end)
        return None if values is None else values[key]

    metric.__name__ = f"answers_{key}"
    return metric


for _name, _fn, _help, _unit in (
    (
        "tokens_input",
        _sum("input_tokens"),
        "Input (prompt) tokens of the window's LLM calls.",
        "tokens",
    ),
    (
        "tokens_output",
        _sum("output_tokens"),
        "Output (completion) tokens of the window's LLM calls.",
        "tokens",
    ),
    (
        "tokens_total",
        _sum("total_tokens"),
        "Input plus output tokens of the window's LLM calls.",
        "tokens",
    ),
    (
        "cost_total",
        _sum("cost"),
        "Cost of the window's LLM calls (VIGIL_GENAI_PRICES).",
        "currency",
    ),
    ("ttft_p50", _ttft(50), "Median time to first token of the window's LLM calls.", "seconds"),
    (
        "ttft_p95",
        _ttft(95),
        "95th percentile of the time to first token of the window's LLM calls.",
        "seconds",
    ),
    (
        "answers_relevance_mean",
        _answers("relevance_mean"),
        "Mean similarity of the window's answers to their prompts (stored scores; text models).",
        "ratio",
    ),
    (
        "answers_relevance_p10",
        _answers("relevance_p10"),
        "10th percentile of the similarity of the window's answers to their prompts.",
        "ratio",
    ),
    (
        "answers_refusal_rate",
        _answers("refusal_rate"),
        "Share of the window's answers that are refusals.",
        "ratio",
    ),
    (
        "answers_consistency",
        _answers("consistency"),
        "Mean similarity of the window's "
        "answers to the other answers of the same or near-duplicate prompts.",
        "ratio",
    ),
    (
        "answers_tokens_mean",
        _answers("answer_tokens_mean"),
        "Mean length of the window's answers in word tokens.",
        "tokens",
    ),
    (
        "answers_unknown_token_rate",
        _answers("unknown_token_rate"),
        "Unknown-token markers ([UNK], <unk>, ...) per answer token in the window's answers.",
        "ratio",
    ),
):
    register_metric(_name, _fn, _help, unit=_unit)
