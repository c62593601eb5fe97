"""Turn queued hot-path tuples into the JSON bodies of the ingest API (background only).

The hot path appends small tuples; this module, run by the sender thread, makes the ids
it deferred, picks the inputs of a tracked call, builds the record dicts of
``POST /api/v1/models/{name}/predictions`` (and of labels and feedback) and serialises a
batch with orjson. A value orjson cannot encode natively (a pandas Series, a set, a
custom object) is converted (``tolist``, ``to_dict``, ``list``, ``str``); a record that
still cannot be encoded is dropped alone, never its neighbours.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

from vigil.sdk.ids import id_at

log = logging.getLogger("vigil.sdk")

# Tags of queued tuples (first element).
# t0, t1: perf_counter_ns() before and after the call (its wall time is worked out in the
# background); error: None or (message, error_type, wall ts); budget_ns: the budget or None.
TRACKED = 0  # (TRACKED, args, kwargs, output, t0, t1, error, budget_ns)
PREDICTION = 1  # (PREDICTION, inputs, output, proba, latency_s, error, subject_id, id, ts,
#                  error_type[, version that served it])
LABEL = 2  # (LABEL, prediction_id, actual, ts)
FEEDBACK = 3  # (FEEDBACK, id, prediction_id, score, comment, ts)
RESOURCE = 4  # (RESOURCE, sample dict) from vigil.sdk.resources

_OPTS = orjson.OPT_SERIALIZE_NUMPY
_OPTS_ANY_KEYS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_ERROR_MAX = 2000
ERROR_TYPE_MAX = 100  # the server's bound on error_type


def call_inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The inputs of a tracked call: its first mapping argument, else its keyword arguments.

    Examples:
        >>> call_inputs(({"age": 3},), {})
        {'age': 3}
        >>> call_inputs(("self", {"age": 3}), {})
        {'age': 3}
        >>> call_inputs((), {"age": 3})
        {'age': 3}
        >>> call_inputs(([1.0, 2.0],), {})
        {'input': [1.0, 2.0]}
    """
    for arg in args:
        if isinstance(arg, Mapping):
            return arg
    if kwargs or not args:
        return kwargs
    return {"input": args[0] if len(args) == 1 else list(args)}


def describe_error(exc: BaseException) -> str:
    """``"TypeName: message"`` of an exception, shortened; never raises."""
    try:
        text = f"{type(exc).__qualname__}: {exc}"
    except Exception:  # a broken __str__ must not break the caller
        text = type(exc).__qualname__
    return text if len(text) <= _ERROR_MAX else text[: _ERROR_MAX - 3] + "..."


def error_kind(exc: BaseException) -> str:
    """The ``error_type`` of an exception: its class name (at most 100 characters).

    Examples:
        >>> error_kind(TimeoutError("slow"))
        'TimeoutError'
    """
    return type(exc).__qualname__[:ERROR_TYPE_MAX]


def timeout_error(latency_s: float, budget_s: float) -> tuple[str, str]:
    """The error (message, ``error_type``) of a call that ran over its time budget.

    Examples:
        >>> timeout_error(0.31234, 0.25)
        ('timeout: took 0.312 s > budget 0.25 s', 'timeout')
    """
    return f"timeout: took {latency_s:.3g} s > budget {budget_s:g} s", "timeout"


def to_records(
    items: list[tuple[Any, ...]],
    version: str,
    clock_offset_ns: int | None = None,
    version_at: Callable[[float], str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Group queued tuples by batch kind and build their JSON-ready dicts.

    ``clock_offset_ns`` is ``time_ns() - perf_counter_ns()`` read now: it turns the
    monotonic start of a tracked call into its Unix time (read within a flush interval of
    the call, so only a wall-clock step or a suspend in between shifts it). Fields that
    are None (error, subject, probabilities) are left out of the records: the server reads
    them as null.
    """
    if clock_offset_ns is None:
        clock_offset_ns = time.time_ns() - time.perf_counter_ns()
    predictions: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    resources: list[dict[str, Any]] = []
    add = predictions.append
    # a prediction carries the version it names (the one that served it: a canary's),
    # else version_at(ts) (the version followed at that time), else version
    at = version_at or (lambda _ts: version)
    for item in items:
        tag = item[0]
        if tag == TRACKED:
            _, args, kwargs, output, t0, t1, err, budget_ns = item
            ts = (t0 + clock_offset_ns) / 1e9
            inputs = args[0] if args and type(args[0]) is dict else call_inputs(args, kwargs or {})
            if err is None:
                if budget_ns is None or t1 - t0 <= budget_ns:
                    add(
                        {
                            "id": id_at(ts),
                            "version": at(ts),
                            "ts": ts,
                            "latency_s": (t1 - t0) / 1e9,
                            "inputs": inputs,
                            "outputs": output,
                        }
                    )
                    continue
                err = timeout_error((t1 - t0) / 1e9, budget_ns / 1e9)
            else:
                ts = err[2]  # an exception's wall time, as its exception hooks got it
            add(
                {
                    "id": id_at(ts),
                    "version": at(ts),
                    "ts": ts,
                    "latency_s": (t1 - t0) / 1e9,
                    "error": err[0],
                    "error_type": err[1],
                    "inputs": inputs,
                    "outputs": output,
                }
            )
        elif tag == PREDICTION:
            _, inputs, output, proba, latency_s, error, subject_id, pid, ts, error_type = item[:10]
            served_by = item[10] if len(item) > 10 else None
            rec = {
                "id": pid,
                "version": served_by or at(ts),
                "ts": ts,
                "latency_s": latency_s,
                "inputs": inputs,
                "outputs": output,
            }
            if error is not None:
                rec["error"] = error
            if error_type is not None:
                rec["error_type"] = error_type
            if subject_id is not None:
                rec["subject_id"] = subject_id
            if proba is not None:
                rec["proba"] = proba
            add(rec)
        elif tag == LABEL:
            _, pid, actual, ts = item
            labels.append({"prediction_id": pid, "actual": actual, "ts": ts})
        elif tag == RESOURCE:
            resources.append({**item[1], "version": version})
        else:
            _, fid, pid, score, comment, ts = item
            feedback.append(
                {"id": fid, "prediction_id": pid, "score": score, "comment": comment, "ts": ts}
            )
    return {
        "predictions": predictions,
        "labels": labels,
        "feedback": feedback,
        "resources": resources,
    }


def _default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy scalars/arrays not covered natively, pandas Series
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if isinstance(obj, Decimal):
        return float(obj)
    if isinstance(obj, bytes | bytearray):
        return bytes(obj).decode("utf-8", "replace")
    return str(obj)


def dumps(value: Any) -> bytes:
    """orjson with vigil's conversions; raises ``orjson.JSONEncodeError`` if impossible."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTS)
    except orjson.JSONEncodeError:
        return orjson.dumps(value, default=_default, option=_OPTS_ANY_KEYS)


def encode(key: str, items: list[dict[str, Any]]) -> tuple[bytes, int]:
    """The body ``{key: items}`` and how many items it holds (unencodable ones left out).

    Examples:
        >>> encode("labels", [{"prediction_id": "a", "actual": 1, "ts": 1.5}])
        (b'{"labels":[{"prediction_id":"a","actual":1,"ts":1.5}]}', 1)
    """
    try:
        return dumps({key: items}), len(items)
    except orjson.JSONEncodeError:
        pass
    parts = []
    for item in items:
        try:
            parts.append(dumps(item))
        except orjson.JSONEncodeError as exc:
            log.error(
                "vigil: dropped a record that cannot be encoded as JSON (%s): id=%s",
                exc,
                item.get("id") or item.get("prediction_id"),
            )
    body = b'{"' + key.encode() + b'":[' + b",".join(parts) + b"]}"
    return body, len(parts)
