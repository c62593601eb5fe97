"""Language-model calls over windows: tokens in and out, cost and time to first token.

:func:`genai_summary` answers ``GET /api/v1/models/{m}/genai``; the rule metrics
``tokens_input``, ``tokens_output``, ``tokens_total``, ``cost_total``, ``ttft_p50`` and
``ttft_p95`` are registered here (this module is listed in
:data:`vigil.engine.metric_sources.PROVIDER_MODULES`). Everything is computed from the
stored predictions (:func:`vigil.store.genai.genai_calls`); quantiles are exact (linear
interpolation between order statistics, numpy's default).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from vigil.engine.metric_sources import register_metric
from vigil.errors import InvalidParameterError
from vigil.store import ModelRecord, Store
from vigil.store.genai import genai_calls

MAX_POINTS = 10_000


def summarise(calls: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts, token sums, cost and TTFT/latency quantiles of some calls.

    Sums are None when no call carries the number (a model without token counts is not
    a model that used no tokens).

    Examples:
        >>> s = summarise([{"error": False, "latency_s": 1.0, "input_tokens": 10.0,
        ...                 "output_tokens": 5.0, "cost": None, "ttft_s": 0.2},
        ...                {"error": True, "latency_s": 3.0, "input_tokens": 4.0,
        ...                 "output_tokens": None, "cost": None, "ttft_s": 0.4}])
        >>> s["calls"], s["errors"], s["input_tokens"], s["total_tokens"], s["cost"]
        (2, 1, 14, 19, None)
        >>> round(s["ttft_p50_s"], 3), round(s["latency_p95_s"], 3)
        (0.3, 2.9)
    """
    out: dict[str, Any] = {"calls": len(calls), "errors": sum(1 for c in calls if c["error"])}
    for key in ("input_tokens", "output_tokens"):
        values = [c[key] for c in calls if c[key] is not None]
        out[key] = int(sum(values)) if values else None
    known = [out[k] for k in ("input_tokens", "output_tokens") if out[k] is not None]
    out["total_tokens"] = sum(known) if known else None
    costs = [c["cost"] for c in calls if c["cost"] is not None]
    out["cost"] = float(sum(costs)) if costs else None
    out["priced_calls"] = len(costs)
    for key, name in (("ttft_s", "ttft"), ("latency_s", "latency")):
        values = np.array([c[key] for c in calls if c[key] is not None], dtype=float)
        for q in (50, 95):
            out[f"{name}_p{q}_s"] = float(np.percentile(values, q)) if values.size else None
    return out


def genai_summary(store: Store, model: ModelRecord, *, start: float | None = None,
                  end: float | None = None, step: int | None = None,
                  version: str | None = None) -> dict[str, Any]:
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
    end = time.time() if end is None else float(end)
    start = end - 3600 if start is None else float(start)
    if not end > start:
        raise InvalidParameterError(f"'end' ({end}) must be after 'start' ({start}).")
    if step is None:
        step = max(60, int((end - start) / 60) // 60 * 60)
    if step <= 0 or step % 60:
        raise InvalidParameterError(f"'step' must be a positive multiple of 60 s. Got {step}.")
    if (end - start) / step > MAX_POINTS:
        raise InvalidParameterError(
            f"start..end / step gives more than {MAX_POINTS} windows; use a larger 'step'.")
    calls = genai_calls(store, model.id, start, end, version)
    windows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in calls:
        windows[int(c["ts"] // step) * step].append(c)
        versions[c["version"]].append(c)
    return {
        "model": model.name, "version": version, "start": start, "end": end, "step": step,
        "summary": summarise(calls),
        "series": [{"ts": ts, **summarise(w)} for ts, w in sorted(windows.items())],
        "versions": {v: summarise(w) for v, w in sorted(versions.items())},
    }


def _metric(key: str) -> Any:
    def metric(store: Store, model: ModelRecord, version: str | None, start: float,
               end: float) -> float | None:
        calls = genai_calls(store, model.id, start, end, version)
        if not calls:
            return None
        value = summarise(calls)[key]
        return None if value is None else float(value)

    metric.__name__ = key
    return metric


for _name, _key, _help, _unit in (
    ("tokens_input", "input_tokens", "Input (prompt) tokens of the window's LLM calls.",
     "tokens"),
    ("tokens_output", "output_tokens", "Output (completion) tokens of the window's LLM calls.",
     "tokens"),
    ("tokens_total", "total_tokens", "Input plus output tokens of the window's LLM calls.",
     "tokens"),
    ("cost_total", "cost", "Cost of the window's LLM calls (VIGIL_GENAI_PRICES).", "currency"),
    ("ttft_p50", "ttft_p50_s", "Median time to first token of the window's LLM calls.",
     "seconds"),
    ("ttft_p95", "ttft_p95_s", "95th percentile of the time to first token of the window's "
     "LLM calls.", "seconds"),
):
    register_metric(_name, _metric(_key), _help, unit=_unit)
