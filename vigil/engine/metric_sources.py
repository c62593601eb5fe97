"""The metrics rules can watch: a registry from a metric name to the function computing it.

A metric function takes ``(store, model, version, start, end)`` — a :class:`Store`, the
:class:`~vigil.store.ModelRecord`, a version (None for all versions) and a window in unix
seconds — and returns a float, or None when the window holds too little data to say
(a rule then neither fires nor resolves on it; see :mod:`vigil.engine.alerts.rules`).

The backbone's traffic, error and latency metrics are registered here. Other concerns
(quality, resources, drift) register theirs with :func:`register_metric` in their own
module and name that module in :data:`PROVIDER_MODULES`, which is imported the first time
the registry is read, so every process (server, CLI) sees the same metrics.

Examples:
    >>> {"count", "error_rate", "latency_p50"} <= {m.name for m in list_metrics()}
    True
    >>> get_metric("latency_p95").unit
    'seconds'
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from vigil.errors import InvalidParameterError

if TYPE_CHECKING:
    from vigil.store import ModelRecord, Store

# Modules that register metrics when imported (one line each; order does not matter).
PROVIDER_MODULES: tuple[str, ...] = (
    "vigil.engine.resources.sources",
    "vigil.engine.quality.sources",
    "vigil.engine.ingest.input_scores",
    "vigil.engine.genai.metrics",
)

_NAME = re.compile(r"^[a-z][a-z0-9_.:]{0,99}$")
_PARAMETER = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


class MetricFunction(Protocol):
    """Computes one metric of one model (and version) over ``[start, end)``."""

    def __call__(
        self, store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None: ...


@dataclass(frozen=True, slots=True)
class MetricSource:
    """A registered metric: its name, function, description and unit."""

    name: str
    fn: MetricFunction
    description: str
    unit: str = ""

    def compute(
        self, store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        """The metric over ``[start, end)``; None when there is too little data."""
        value = self.fn(store, model, version, start, end)
        return None if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "unit": self.unit}


_registry: dict[str, MetricSource] = {}
# metrics that take one parameter after a colon, e.g. "error_rate:timeout"
_parameterised: dict[str, tuple[Callable[[str], MetricFunction], str, str]] = {}
_lock = threading.RLock()
_loaded = {"providers": False}


def register_metric(
    name: str,
    fn: MetricFunction | Callable[..., float | None],
    description: str,
    *,
    unit: str = "",
    replace: bool = False,
) -> MetricSource:
    """Register ``fn`` as metric ``name``; return its :class:`MetricSource`.

    Args:
        name: Lower-case name (letters, digits, ``_ . :``), e.g. ``"accuracy"`` or
            ``"drift.share"``.
        fn: ``fn(store, model, version, start, end) -> float | None``.
        description: One line for ``vigil rules metrics`` and ``/api/v1/rules/metrics``.
        unit: Base unit (``"seconds"``, ``"ratio"``, ``"per_second"``, ...), if any.
        replace: Allow replacing an existing registration (otherwise a clash raises).

    Raises:
        InvalidParameterError: A bad name, a non-callable ``fn``, or a name taken.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidParameterError(
            f"A metric name must be lower-case letters, digits, '_', '.' or ':' starting "
            f"with a letter. Got {name!r}."
        )
    if not callable(fn):
        raise InvalidParameterError(f"The function of metric {name!r} must be callable.")
    source = MetricSource(name, fn, description, unit)
    with _lock:
        old = _registry.get(name)
        if old is not None and not replace and old.fn is not fn:
            raise InvalidParameterError(
                f"Metric {name!r} is already registered; pass replace=True to replace it."
            )
        _registry[name] = source
    return source


def unregister_metric(name: str) -> None:
    """Remove a registered metric (no error when absent)."""
    with _lock:
        _registry.pop(name, None)


def _load_providers() -> None:
    if _loaded["providers"]:
        return
    with _lock:
        if _loaded["providers"]:
            return
        _loaded["providers"] = True
        for module in PROVIDER_MODULES:
            importlib.import_module(module)


def register_parameterised_metric(
    base: str, factory: Callable[[str], MetricFunction], description: str, *, unit: str = ""
) -> None:
    """Register ``base:<parameter>`` metrics: ``factory(parameter)`` makes the function.

    ``description`` may hold ``{}`` for the parameter. The parameter is 1-100 letters,
    digits, ``_ . -`` (an error kind such as ``TimeoutError`` or ``timeout``).
    """
    with _lock:
        _parameterised[base] = (factory, description, unit)


def get_metric(name: str) -> MetricSource:
    """The metric called ``name`` (``base:parameter`` for parameterised metrics).

    Raises:
        InvalidParameterError: No such metric; the message lists the known ones.
    """
    _load_providers()
    source = _registry.get(name)
    base, colon, parameter = name.partition(":") if isinstance(name, str) else ("", "", "")
    if source is None and colon and base in _parameterised:
        if not _PARAMETER.match(parameter):
            raise InvalidParameterError(
                f"The parameter of metric {base!r} must be 1-100 letters, digits, '_', '.' "
                f"or '-'. Got {parameter!r} in {name!r}."
            )
        factory, description, unit = _parameterised[base]
        return MetricSource(name, factory(parameter), description.format(parameter), unit)
    if source is None:
        raise InvalidParameterError(
            f"Unknown metric {name!r}. Known metrics: {', '.join(sorted(_registry))}."
        )
    return source


def list_metrics() -> list[MetricSource]:
    """Every registered metric, sorted by name."""
    _load_providers()
    with _lock:
        return [_registry[k] for k in sorted(_registry)]


# -- the backbone's metrics, from the per-minute rollups ----------------------------------


def _window(
    store: Store,
    model: ModelRecord,
    version: str | None,
    start: float,
    end: float,
    *,
    sketches: bool = False,
) -> dict[str, Any] | None:
    """The range merged into one window; latency sketches are read only when asked for
    (counts and error rates need none, and a rule round reads many windows)."""
    from vigil.store.ingest.rollups import merge_windows

    rows = store.rollup_rows(
        model.id, start, end, version, profiles=False, sketches=sketches, hours=True
    )
    return merge_windows(rows, 1 << 62).get(0)


def _count(
    store: Store, model: ModelRecord, version: str | None, start: float, end: float
) -> float:
    window = _window(store, model, version, start, end)
    return float(window["count"]) if window else 0.0


def _throughput(
    store: Store, model: ModelRecord, version: str | None, start: float, end: float
) -> float:
    return _count(store, model, version, start, end) / max(end - start, 1.0)


def _error_rate(
    store: Store, model: ModelRecord, version: str | None, start: float, end: float
) -> float | None:
    window = _window(store, model, version, start, end)
    if not window or not window["count"]:
        return None
    return window["errors"] / window["count"]


def _error_rate_of(kind: str) -> MetricFunction:
    def error_rate(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        window = _window(store, model, version, start, end)
        if not window or not window["count"]:
            return None
        return (window.get("error_types") or {}).get(kind, 0) / window["count"]

    return error_rate


def _rejected_rate_of(reason: str | None) -> MetricFunction:
    def rejected_rate(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        from vigil.store.ingest.schemas import rejection_rows

        rows = rejection_rows(store, model.id, start, end, version)
        rejected = sum(int(r["count"]) for r in rows)
        matched = sum(int(r["count"]) for r in rows if reason is None or r["reason"] == reason)
        window = _window(store, model, version, start, end)
        seen = (window["count"] if window else 0) + rejected
        return matched / seen if seen else None

    return rejected_rate


def _latency(q: float) -> Callable[..., float | None]:
    def latency(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        window = _window(store, model, version, start, end, sketches=True)
        sketch = window["sketch"] if window else None
        if sketch is None or sketch.is_empty():
            return None
        return float(sketch.get_quantile(q))

    latency.__name__ = f"latency_p{round(q * 100)}"
    return latency


register_metric("count", _count, "Predictions in the window.", unit="predictions")
register_metric(
    "throughput", _throughput, "Predictions per second over the window.", unit="per_second"
)
register_metric(
    "error_rate",
    _error_rate,
    "Share of predictions that ended in an error (None without predictions).",
    unit="ratio",
)
register_parameterised_metric(
    "error_rate",
    _error_rate_of,
    "Share of predictions that ended in an error of kind {} (error_type; None without "
    "predictions).",
    unit="ratio",
)
register_metric(
    "rejected_rate",
    _rejected_rate_of(None),
    "Share of prediction records rejected at ingest, of all received (None when none arrived).",
    unit="ratio",
)
register_parameterised_metric(
    "rejected_rate",
    _rejected_rate_of,
    "Share of prediction records rejected at ingest for reason {}.",
    unit="ratio",
)
for _q in (0.5, 0.95, 0.99):
    register_metric(
        f"latency_p{round(_q * 100)}",
        _latency(_q),
        f"{round(_q * 100)}th percentile of model latency (KLL sketch).",
        unit="seconds",
    )


def _drift(key: str) -> Callable[..., float | None]:
    def drift(
        store: Store, model: ModelRecord, version: str | None, start: float, end: float
    ) -> float | None:
        from vigil.engine.windows.drift import window_drift
        from vigil.errors import NotFoundError

        try:
            out = window_drift(store, model, start=start, end=end, version=version)
        except NotFoundError:  # no reference data set: nothing to compare with
            return None
        return None if not out["n_current"] else float(out[key])

    drift.__name__ = key
    return drift


register_metric(
    "drift_share",
    _drift("drift_share"),
    "Share of input features that drifted from the reference (None without a "
    "reference or predictions).",
    unit="ratio",
)
register_metric(
    "dataset_drift",
    _drift("dataset_drift"),
    "1 when the inputs as a whole drifted from the reference, else 0.",
)
