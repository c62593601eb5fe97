"""Prometheus metrics of one server process, on a registry of its own (no globals)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vigil.store.ingest.rows import PredictionRows

log = logging.getLogger("vigil.server")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LABELS = ("model_name", "model_version")
MAX_ERROR_TYPES = 20  # error_type label values per model; later kinds count as "other"


class ServerMetrics:
    """Counters and histograms fed by ingest; exposed at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.predictions = Counter(
            "vigil_predictions", "Predictions ingested.", LABELS, registry=self.registry
        )
        self.errors = Counter(
            "vigil_prediction_errors",
            "Predictions that ended in an error, by kind "
            "(error_type: the exception class or the kind the caller named; at most "
            f"{MAX_ERROR_TYPES} per model, then 'other').",
            (*LABELS, "error_type"),
            registry=self.registry,
        )
        self._error_types: dict[str, set[str]] = {}
        self.latency = Histogram(
            "vigil_prediction_latency_seconds",
            "Model latency reported with each prediction.",
            LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.labels = Counter(
            "vigil_labels", "Ground-truth labels ingested.", ("model_name",), registry=self.registry
        )
        self.feedback = Counter(
            "vigil_feedback", "Feedback events ingested.", ("model_name",), registry=self.registry
        )
        self.rejected = Counter(
            "vigil_ingest_rejected_records",
            "Records rejected at ingest.",
            ("model_name", "kind"),
            registry=self.registry,
        )

    def observe_predictions(self, model: str, rows: Sequence[dict[str, Any]]) -> None:
        """Count inserted rows per version (errors per kind) and observe their latencies,
        per batch: one ``inc`` per counter and one per histogram bucket."""
        batch = PredictionRows.from_rows(rows)
        version = batch.column("version")
        latency = batch.column("latency_s")
        error = batch.column("error")
        if len(set(version)) == 1:
            groups: dict[str, list[int] | None] = {version[0]: None}  # the usual: one version
        else:
            groups = {}
            for i, v in enumerate(version):
                index = groups.get(v)
                if index is None:
                    index = groups[v] = []
                index.append(i)
        labels: list[str | None] = []
        if error.count(None) != len(error):  # kinds labelled in row order (the first 20)
            label_of, kinds = self._error_label, batch.column("error_type")
            labels = [
                None if e is None else label_of(model, k or "unknown")
                for e, k in zip(error, kinds, strict=True)
            ]
        for v, index in groups.items():
            if index is None:
                count, lat, lab = batch.n, latency, labels
            else:
                count = len(index)
                lat = [latency[i] for i in index]
                lab = [labels[i] for i in index] if labels else labels
            self.predictions.labels(model, v).inc(count)
            if lab:
                errors: dict[str, int] = {}
                for label in lab:
                    if label is not None:
                        errors[label] = errors.get(label, 0) + 1
                for label, n in errors.items():
                    self.errors.labels(model, v, label).inc(n)
            observed = [x for x in lat if x is not None] if None in lat else lat
            if observed:
                observe_many(self.latency.labels(model, v), observed)

    def _error_label(self, model: str, kind: str) -> str:
        seen = self._error_types.setdefault(model, set())
        if kind in seen:
            return kind
        if len(seen) < MAX_ERROR_TYPES:
            seen.add(kind)
            return kind
        return "other"

    def watch_store(self, store: Any, ttl_s: float | None = None) -> StoreGauges:
        """Expose the store gauges (:class:`StoreGauges`) of ``store`` on this registry."""
        gauges = StoreGauges(store, ttl_s)
        self.registry.register(gauges)
        return gauges

    def render(self) -> bytes:
        return generate_latest(self.registry)


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """Observe ``values`` on a histogram child in bulk: the bucket counts and the count
    are those of one ``observe`` per value (a value goes to the first bucket whose bound
    is >= it); the sum is the same up to floating-point rounding (added once).

    prometheus_client has no bulk observe; this writes the child's bucket and sum values
    (``_buckets``, ``_sum``, ``_upper_bounds``) the way ``observe`` does, one ``inc`` per
    bucket hit.
    """
    array = np.asarray(values, dtype=np.float64)
    if not array.size:
        return
    bounds = histogram._upper_bounds
    # the first bound >= the value; NaN compares with no bound, as in observe()
    slots = np.searchsorted(np.asarray(bounds, dtype=np.float64), array, side="left")
    counts = np.bincount(slots, minlength=len(bounds) + 1)
    buckets = histogram._buckets
    for i in np.flatnonzero(counts[: len(bounds)]).tolist():
        buckets[i].inc(int(counts[i]))
    histogram._sum.inc(float(array.sum()))


# -- gauges computed from the store ------------------------------------------------------

STORE_GAUGES_TTL_S = 30.0  # age at which a scrape starts a background refresh (one round
# of the alert engine by default; a full computation costs what evaluating the rules does)
FIRST_WAIT_S = 2.0  # how long the first scrape waits for the first computation
MAX_VERSIONS = 20  # versions per model on the last-event gauge (newest traffic first)
MAX_FEATURES = 50  # features per model on the per-feature drift gauges (schema order)
DEFAULT_WINDOW_S = 3600.0  # the window of the gauges no rule asks for (dashboards)
TEXT_METRICS = (
    "answers_relevance_mean",
    "answers_refusal_rate",
    "answers_consistency",
    "injection_rate",
)


def window_label(seconds: float) -> str:
    """The ``window`` label of a gauge over ``seconds`` (vigil's duration text, e.g. 1h)."""
    from vigil.engine.alerts.rules import format_duration

    return format_duration(seconds)


class StoreGauges(Collector):
    """Gauges of everything vigil can alert on that has no native series, from the store.

    * ``vigil_metric_value{model_name, model_version, metric, window}``: a rule metric over
      the last ``window``, computed exactly as vigil's rules compute it. The
      (metric, window, model, version) sets are those of the enabled stored rules (plus
      ``count`` for rules with ``min_count``) and, over the last hour for every model,
      ``drift_share`` and, for text models, the text-quality metrics. ``model_version`` is
      empty for all versions together. Bounded by rules x models.
    * ``vigil_feature_drift_score`` / ``vigil_feature_drifted`` ``{model_name, feature}``:
      per-feature drift over the last hour against the reference; at most
      :data:`MAX_FEATURES` features per model, in the reference's column order.
    * ``vigil_model_last_event_timestamp_seconds{model_name, model_version}``: start of the
      newest minute holding predictions (event time, as the no-data rule counts them); 0
      for a model without any; at most :data:`MAX_VERSIONS` versions per model (those with
      the newest traffic, plus any a rule names). Read from the rollups as the server's
      aggregator leaves them (it folds ingested batches every second by default).
    * ``vigil_forecast_crossing_seconds`` and ``vigil_anomaly_score``
      ``{rule, model_name, model_version}``: the value of each stored forecast rule
      (seconds until the forecast interval crosses its threshold; absent when it does not)
      and anomaly rule (robust z-score), reusing fits until a window completes.

    Scrapes never wait on the store: a stale cache (older than ``ttl_s``, or twice the
    last computation's time when that is longer, so at most half of one core goes to it)
    is served while one background thread recomputes it; the very first scrape waits up to
    :data:`FIRST_WAIT_S` for the first computation.
    """

    def __init__(self, store: Any, ttl_s: float | None = None) -> None:
        self.store = store
        self.ttl_s = STORE_GAUGES_TTL_S if ttl_s is None else ttl_s
        self._cache: tuple[float, list[Metric]] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._duration = 0.0  # seconds the last computation took
        self._insight_cache: Any = None

    def describe(self) -> list[Metric]:
        return []  # the series depend on the store; nothing to check up front

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            cache = self._cache
            due = cache is None or time.monotonic() - cache[0] > max(
                self.ttl_s, 2 * self._duration
            )  # at most half the time spent computing
            thread = None
            if due and self._thread is None:
                thread = self._thread = threading.Thread(
                    target=self._refresh, name="vigil-store-gauges", daemon=True
                )
            first = self._thread if cache is None else None
        if thread is not None:
            thread.start()
        if first is not None:  # nothing computed yet: wait a little, never long
            first.join(FIRST_WAIT_S)
            with self._lock:
                cache = self._cache
        return iter(cache[1] if cache else ())

    def _refresh(self) -> None:
        started = time.monotonic()
        try:
            families = self.families(time.time())
        except Exception:  # /metrics must answer even when the store does not
            log.exception("store gauges failed")
            families = None
        with self._lock:
            if families is not None:
                self._cache = (time.monotonic(), families)
            self._duration = time.monotonic() - started
            self._thread = None

    # -- computing ----------------------------------------------------------------------
    def _rules(self) -> list[Any]:
        from vigil.engine.alerts.rules import Rule
        from vigil.store.alerts.queries import AlertStore

        out = []
        for spec in AlertStore(self.store).list_rules():
            try:
                rule = Rule.from_dict({k: v for k, v in spec.items() if v is not None})
            except Exception:  # an invalid stored rule: the alert engine reports it
                continue
            if rule.enabled and not rule.alias:
                out.append(rule)
        return out

    def families(self, now: float) -> list[Metric]:
        """Every store gauge as of ``now`` (unix seconds)."""
        value, last, score, drifted, forecast, anomaly = _gauges()
        rules = self._rules()
        models = self.store.list_models()
        values: dict[tuple[str, str, str, str], float | None] = {}
        wanted: dict[tuple[str, float], list[tuple[Any, str | None]]] = {}
        named_versions: dict[str, set[str]] = {}
        for rule in rules:
            if rule.version:
                named_versions.setdefault(rule.model, set()).add(rule.version)
        for model in models:
            versions = named_versions.get(model.name, set()) | named_versions.get("*", set())
            self._last_events(model, now, versions, last)
            self._drift(model, now, values, score, drifted)
            if model.task == "text_generation":
                for metric in TEXT_METRICS:
                    wanted.setdefault((metric, DEFAULT_WINDOW_S), []).append((model, None))
        by_name = {m.name: m for m in models}
        for rule in rules:
            chosen = (
                models
                if rule.model == "*"
                else ([by_name[rule.model]] if rule.model in by_name else [])
            )
            if rule.kind in ("forecast", "anomaly"):
                for model in chosen:
                    self._insight(rule, model, now, forecast, anomaly)
                continue
            _want(wanted, rule, chosen)
        self._compute(wanted, now, values)
        for labels, result in values.items():
            if result is not None and math.isfinite(result):
                value.add_metric(list(labels), result)
        return [value, last, score, drifted, forecast, anomaly]

    def _last_events(
        self, model: Any, now: float, named: set[str], last: GaugeMetricFamily
    ) -> None:
        """The newest minute of the model's busiest versions and of those rules name
        (0 for a model without predictions)."""
        from vigil.store.ingest.activity import last_event_minutes

        minutes = last_event_minutes(self.store, model.id, now)
        keep = sorted(minutes, key=lambda v: (-minutes[v], v))[:MAX_VERSIONS]
        keep += [v for v in sorted(named) if v in minutes and v not in keep]
        for kept in keep:
            last.add_metric([model.name, kept], float(minutes[kept]))
        if not minutes:
            last.add_metric([model.name, ""], 0.0)

    def _compute(
        self,
        wanted: dict[tuple[str, float], list[tuple[Any, str | None]]],
        now: float,
        values: dict[tuple[str, str, str, str], float | None],
    ) -> None:
        """Each wanted (metric, window) of each (model, version) once, into ``values``;
        a metric that is gone or fails is left out (the engine reports it)."""
        from vigil.engine.metric_sources import get_metric

        for (metric, window_s), targets in wanted.items():
            try:
                source = get_metric(metric)
            except Exception:  # a rule on a metric that is gone: the engine reports it
                continue
            label = window_label(window_s)
            for model, version in targets:
                key = (model.name, version or "", metric, label)
                if key in values:
                    continue
                try:
                    result = source.compute(self.store, model, version, now - window_s, now)
                except Exception:
                    log.exception("metric %s of %s failed", metric, model.name)
                    continue
                values[key] = result

    def _drift(
        self,
        model: Any,
        now: float,
        values: dict[tuple[str, str, str, str], float | None],
        score: GaugeMetricFamily,
        drifted: GaugeMetricFamily,
    ) -> None:
        """drift_share and per-feature drift over the default window (one drift test)."""
        from vigil.engine.windows.drift import window_drift
        from vigil.errors import NotFoundError

        try:
            out = window_drift(self.store, model, start=now - DEFAULT_WINDOW_S, end=now)
        except NotFoundError:  # no reference: nothing to compare with
            return
        if not out["n_current"]:
            return  # the drift_share metric is None then, too
        values[(model.name, "", "drift_share", window_label(DEFAULT_WINDOW_S))] = float(
            out["drift_share"]
        )
        for feature, column in list((out.get("columns") or {}).items())[:MAX_FEATURES]:
            effect = column.get("effect_size")
            if isinstance(effect, int | float) and math.isfinite(effect):
                score.add_metric([model.name, feature], float(effect))
            drifted.add_metric([model.name, feature], 1.0 if column.get("drifted") else 0.0)

    def _insight(
        self,
        rule: Any,
        model: Any,
        now: float,
        forecast: GaugeMetricFamily,
        anomaly: GaugeMetricFamily,
    ) -> None:
        from vigil.engine.insight.rules import InsightCache, evaluate_insight

        if self._insight_cache is None:
            self._insight_cache = InsightCache()
        try:
            result, _, _ = evaluate_insight(
                self.store, rule, model, rule.version, now, self._insight_cache
            )
        except Exception:
            log.exception("rule %s on %s failed", rule.name, model.name)
            return
        if result is None or not math.isfinite(result):
            return
        family = forecast if rule.kind == "forecast" else anomaly
        family.add_metric([rule.name, model.name, rule.version or ""], float(result))


def _gauges() -> tuple[GaugeMetricFamily, ...]:
    """The store gauges, empty: rule metric values, newest events, feature drift,
    forecast crossings and anomaly scores."""
    return (
        GaugeMetricFamily(
            "vigil_metric_value",
            "A rule metric over the last `window`, as vigil's rules "
            "compute it (model_version empty: all versions).",
            labels=["model_name", "model_version", "metric", "window"],
        ),
        GaugeMetricFamily(
            "vigil_model_last_event_timestamp_seconds",
            "Start of the newest minute holding predictions, by event time (0: none yet).",
            labels=["model_name", "model_version"],
        ),
        GaugeMetricFamily(
            "vigil_feature_drift_score",
            "Per-feature drift effect size over the last hour against the reference.",
            labels=["model_name", "feature"],
        ),
        GaugeMetricFamily(
            "vigil_feature_drifted",
            "1 when the feature drifted over the last hour, else 0.",
            labels=["model_name", "feature"],
        ),
        GaugeMetricFamily(
            "vigil_forecast_crossing_seconds",
            "Seconds until a forecast rule's prediction "
            "interval crosses its threshold (absent: not within the horizon).",
            labels=["rule", "model_name", "model_version"],
        ),
        GaugeMetricFamily(
            "vigil_anomaly_score",
            "Robust z-score of an anomaly rule's last whole window.",
            labels=["rule", "model_name", "model_version"],
        ),
    )


def _want(
    wanted: dict[tuple[str, float], list[tuple[Any, str | None]]], rule: Any, chosen: list[Any]
) -> None:
    """Add what a threshold, change or no-data rule reads to ``wanted``: its metric (unless
    Prometheus computes it from the ingest counters) and the count it needs."""
    from vigil.integrations.prometheus_rules import native

    metric = "count" if rule.kind == "no_data" else rule.metric
    if not native(metric):  # the exported rule reads the ingest counters
        wanted.setdefault((metric, rule.window_s), []).extend((m, rule.version) for m in chosen)
    if rule.min_count or rule.kind == "no_data":
        wanted.setdefault(("count", rule.window_s), []).extend((m, rule.version) for m in chosen)
