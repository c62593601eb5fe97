"""Resource samples: validate and store them, and read them back per host and window.

A sample describes one process and its host at one instant (see
:data:`vigil.store.resources.tables.SAMPLE_FIELDS`). Impossible values are rejected per
sample with the field and the reason — negative memory or counts, a host CPU above 100 %,
a process CPU above 100 % × the host's cores, used memory above the total, non-finite
numbers — and the valid neighbours are stored. A host that stops reporting is reported as
``stale`` with its last values and time, never as zeros.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from vigil.engine.ingest.ingestor import (
    DEFAULT_VERSION,
    VERSION_MAX,
    Ingestor,
    IngestResult,
    _number,
    _ts,
)
from vigil.errors import InvalidParameterError
from vigil.store import ModelRecord, Store
from vigil.store.resources import queries as rq
from vigil.store.resources.tables import SAMPLE_FIELDS

_MAX_CORES = 4096  # a bound for process CPU % when a sample does not say its core count
_GPU_KEYS = frozenset(
    {
        "index",
        "name",
        "uuid",
        "utilization_percent",
        "memory_used_bytes",
        "memory_total_bytes",
        "temperature_c",
        "power_w",
        "process_memory_bytes",
    }
)
_SAMPLE_KEYS = frozenset({"version", "host", "pid", "ts", "interval_s", "gpus", *SAMPLE_FIELDS})
_PERCENT_100 = ("host_cpu_percent", "gpu_utilization_percent")


def stale_after_s(interval_s: float | None) -> float:
    """How long after its last sample a host counts as stale: three of its intervals plus
    10 s for batching and delivery (default interval 10 s).

    Examples:
        >>> stale_after_s(10.0), stale_after_s(None), stale_after_s(1.0)
        (40.0, 40.0, 13.0)
    """
    return 3.0 * (interval_s or 10.0) + 10.0


def ingest_samples(
    ingestor: Ingestor,
    name: str,
    body: Any,
    *,
    version: str | None = None,
    non_finite: bool = False,
) -> tuple[IngestResult, ModelRecord, list[dict[str, Any]]]:
    """Validate and store ``{"samples": [...]}``; return the result, the model and the rows
    that were new (for live gauges)."""
    del non_finite  # non-finite numbers are rejected by the per-field checks
    model = ingestor.lookup_model(name)
    items = ingestor._batch(body, "samples")
    now = time.time()
    result = IngestResult()
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for i, item in enumerate(items):
        errors: list[tuple[str, str]] = []
        row = sample_row(item, f"samples[{i}]", version or DEFAULT_VERSION, now, errors)
        if errors:
            result.reject(i, item, errors)
            continue
        key = (row["version"], row["host"], row["pid"], row["ts"])
        if key in rows:
            result.duplicates += 1
        else:
            rows[key] = row
    fresh = list(rows.values())
    inserted = rq.insert_samples(ingestor.store, model, fresh)
    result.accepted = inserted
    result.duplicates += len(fresh) - inserted
    return result, model, fresh


def sample_row(
    item: Any, path: str, default_version: str, now: float, errors: list[tuple[str, str]]
) -> dict[str, Any]:
    """One validated sample as a row; problems are appended to ``errors``."""
    if not isinstance(item, Mapping):
        errors.append((path, f"expected an object, got {type(item).__name__}"))
        return {}
    unknown = set(item) - _SAMPLE_KEYS
    if unknown:
        errors.append((path, f"unknown fields {sorted(unknown)}; see SAMPLE_FIELDS in the docs"))
    version = item.get("version", default_version)
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not 0 < len(version) <= VERSION_MAX:
        errors.append((f"{path}.version", f"expected a string of 1-{VERSION_MAX} characters"))
    host = item.get("host")
    if not isinstance(host, str) or not 0 < len(host) <= 200:
        errors.append(
            (f"{path}.host", "missing or invalid: a host name of 1-200 characters is required")
        )
    pid = item.get("pid", 0)
    if isinstance(pid, bool) or not isinstance(pid, int) or not 0 <= pid < 2**31:
        errors.append((f"{path}.pid", f"expected a process id (integer >= 0), got {pid!r}"))
    ts = _ts(item.get("ts"), f"{path}.ts", now, errors)
    interval = _non_negative(item, "interval_s", path, errors)
    if interval == 0:
        errors.append((f"{path}.interval_s", "must be > 0 seconds"))
    row: dict[str, Any] = {
        "version": version,
        "host": host,
        "pid": pid,
        "ts": ts,
        "minute": int(ts // 60) * 60,
        "interval_s": interval,
        "received_at": now,
    }
    for name in SAMPLE_FIELDS:
        row[name] = _non_negative(item, name, path, errors)
    _check_bounds(row, path, errors)
    row["gpus"] = _gpus(item.get("gpus"), f"{path}.gpus", errors)
    if row["gpus"]:
        _gpu_totals(row)
    return row


def _gpu_totals(row: dict[str, Any]) -> None:
    """Fill the top-level GPU fields a sample left out from its devices."""
    devices = row["gpus"]
    utils = [d["utilization_percent"] for d in devices if d["utilization_percent"] is not None]
    if row["gpu_utilization_percent"] is None and utils:
        row["gpu_utilization_percent"] = sum(utils) / len(utils)
    for field, key in (
        ("gpu_memory_used_bytes", "memory_used_bytes"),
        ("gpu_memory_total_bytes", "memory_total_bytes"),
    ):
        values = [d[key] for d in devices if d[key] is not None]
        if row[field] is None and values:
            row[field] = float(sum(values))


def _non_negative(
    item: Mapping[str, Any], name: str, path: str, errors: list[tuple[str, str]]
) -> float | None:
    value = _number(item.get(name), f"{path}.{name}", errors, required=False)
    if value is not None and value < 0:
        errors.append((f"{path}.{name}", f"must be >= 0, got {value!r}"))
        return None
    return value


def _check_bounds(row: dict[str, Any], path: str, errors: list[tuple[str, str]]) -> None:
    for name in _PERCENT_100:
        if row[name] is not None and row[name] > 100:
            errors.append(
                (f"{path}.{name}", f"must be a percentage in [0, 100], got {row[name]!r}")
            )
    cores = row["host_cpu_count"]
    if cores is not None and (cores < 1 or cores != int(cores)):
        errors.append((f"{path}.host_cpu_count", f"must be a whole number >= 1, got {cores!r}"))
        cores = None
    cpu = row["process_cpu_percent"]
    limit = 100.0 * (cores or _MAX_CORES)
    if cpu is not None and cpu > limit:
        what = f"{cores:g} cores" if cores else f"{_MAX_CORES} cores (host_cpu_count not sent)"
        errors.append(
            (f"{path}.process_cpu_percent", f"{cpu!r} % exceeds 100 % x {what} = {limit:g} %")
        )
    for used, total in (
        ("host_memory_used_bytes", "host_memory_total_bytes"),
        ("gpu_memory_used_bytes", "gpu_memory_total_bytes"),
    ):
        if row[used] is not None and row[total] is not None and row[used] > row[total]:
            errors.append((f"{path}.{used}", f"{row[used]:.0f} exceeds {total} ({row[total]:.0f})"))
    if (
        row["process_rss_bytes"] is not None
        and row["host_memory_total_bytes"] is not None
        and row["process_rss_bytes"] > row["host_memory_total_bytes"]
    ):
        errors.append(
            (
                f"{path}.process_rss_bytes",
                f"{row['process_rss_bytes']:.0f} exceeds host_memory_total_bytes "
                f"({row['host_memory_total_bytes']:.0f})",
            )
        )


def _gpus(value: Any, path: str, errors: list[tuple[str, str]]) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 64:
        errors.append((path, "expected a list of at most 64 device objects"))
        return None
    out = []
    for j, dev in enumerate(value):
        where = f"{path}[{j}]"
        if not isinstance(dev, Mapping) or not _GPU_KEYS.issuperset(dev):
            errors.append((where, f"expected an object with fields among {sorted(_GPU_KEYS)}"))
            continue
        clean: dict[str, Any] = {}
        for key in ("name", "uuid"):
            if dev.get(key) is not None:
                clean[key] = str(dev[key])[:200]
        index = dev.get("index", j)
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            errors.append((f"{where}.index", f"expected an integer >= 0, got {index!r}"))
        clean["index"] = index
        for key in sorted(_GPU_KEYS - {"index", "name", "uuid"}):
            clean[key] = _non_negative(dev, key, where, errors)
        util = clean["utilization_percent"]
        if util is not None and util > 100:
            errors.append(
                (f"{where}.utilization_percent", f"must be a percentage in [0, 100], got {util!r}")
            )
        used, total = clean["memory_used_bytes"], clean["memory_total_bytes"]
        if used is not None and total is not None and used > total:
            errors.append(
                (
                    f"{where}.memory_used_bytes",
                    f"{used:.0f} exceeds memory_total_bytes ({total:.0f})",
                )
            )
        out.append(clean)
    return out


# -- reading ---------------------------------------------------------------------------


def host_status(latest: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """Each host's last sample with ``status`` ``ok`` or ``stale`` and its age."""
    out = []
    for row in latest:
        age = now - row["ts"]
        values = {k: row[k] for k in SAMPLE_FIELDS if row.get(k) is not None}
        out.append(
            {
                "host": row["host"],
                "version": row["version"],
                "pid": row["pid"],
                "status": "stale" if age > stale_after_s(row["interval_s"]) else "ok",
                "last_seen": row["ts"],
                "seconds_since": round(age, 3),
                "interval_s": row["interval_s"],
                "latest": values,
                "gpus": row.get("gpus"),
            }
        )
    return out


def resource_report(
    store: Store,
    model: ModelRecord,
    *,
    start: float | None = None,
    end: float | None = None,
    step: int | None = None,
    version: str | None = None,
    host: str | None = None,
) -> dict[str, Any]:
    """Per-host windows of resource samples over ``[start, end)`` and each host's status.

    ``series`` holds one point per host and window that had samples (windows without
    samples are absent, not zero); ``hosts`` holds every host that ever reported for the
    model (and version), with its last values, ``status`` ``ok`` or ``stale`` and how long
    ago it was last seen.
    """
    from vigil.engine.windows.metrics import MAX_POINTS

    now = time.time()
    end = now if end is None else end
    start = end - 3600 if start is None else start
    if not (math.isfinite(start) and math.isfinite(end)) or not end > start:
        raise InvalidParameterError(f"'end' ({end}) must be after 'start' ({start}).")
    if step is None:
        step = max(60, int((end - start) / 60) // 60 * 60)
    if step <= 0 or step % 60:
        raise InvalidParameterError(f"'step' must be a positive multiple of 60 s. Got {step}.")
    if (end - start) / step > MAX_POINTS:
        raise InvalidParameterError(
            f"start..end / step gives more than {MAX_POINTS} points; use a larger 'step'."
        )
    series = rq.sample_windows(store, model.id, start, end, step, version=version, host=host)
    hosts = host_status(rq.latest_per_host(store, model.id, version=version), now)
    if host is not None:
        hosts = [h for h in hosts if h["host"] == host]
    return {
        "model": model.name,
        "version": version,
        "host": host,
        "start": start,
        "end": end,
        "step": step,
        "hosts": hosts,
        "series": series,
        "stale_hosts": sorted({h["host"] for h in hosts if h["status"] == "stale"}),
    }


def resource_summary(
    store: Store,
    model: ModelRecord,
    start: float,
    end: float,
    version: str | None = None,
) -> dict[str, Any]:
    """The ``resources`` section of ``GET /models/{m}/metrics``: per host over the whole
    window, plus each host's status (``ok``/``stale``)."""
    step = 1 << 40  # one window holds the whole range (minute % step == minute)
    windows = rq.sample_windows(store, model.id, start, end, step, version=version)
    per_host = [{k: v for k, v in w.items() if k != "ts"} for w in windows]
    hosts = host_status(rq.latest_per_host(store, model.id, version=version), time.time())
    return {
        "per_host": per_host,
        "hosts": [
            {k: h[k] for k in ("host", "version", "status", "last_seen", "seconds_since")}
            for h in hosts
        ],
    }
