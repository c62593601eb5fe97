"""The server's quality side: a background loop (scheduled evaluations, concept drift)
and the Prometheus collector of quality gauges."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily

from vigil.engine.collectors import CachedCollector
from vigil.engine.genai.quality import score_pending
from vigil.engine.quality.concept_drift import update_concept_drift
from vigil.engine.quality.schedule import run_due
from vigil.engine.quality.windows import CLASSIFICATION, estimated_quality, metrics_for, prepare
from vigil.schema import Task
from vigil.store import Store
from vigil.store.quality import queries as qs

if TYPE_CHECKING:
    from vigil.engine.leader import Leadership

log = logging.getLogger("vigil.quality")

GAUGE_METRICS = (
    "accuracy",
    "f1",
    "f1_macro",
    "roc_auc",
    "log_loss",
    "brier",
    "ece",
    "mae",
    "rmse",
    "mape",
    "r2",
    "mean_error",
    "ndcg_at_k",
    "precision_at_k",
    "mrr",
)
WINDOW_S = 3600.0


class QualityJobs:
    """A daemon thread: due evaluations every ``tick_s``, concept drift every ``drift_s``."""

    def __init__(
        self,
        store: Store,
        *,
        tick_s: float = 1.0,
        drift_s: float = 15.0,
        leadership: Leadership | None = None,
    ) -> None:
        self.store = store
        self.leadership = leadership  # with replicas: only the "quality" leader runs
        self.tick_s = tick_s
        self.drift_s = drift_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="vigil-quality", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the loop; a pass still running (a slow endpoint) is left to finish alone."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None

    def run_once(self, *, drift: bool = True) -> None:
        """One pass: due evaluations, then (if ``drift``) concept drift of every model.
        With a leadership, nothing unless this process leads the ``quality`` job (each
        due schedule is also claimed once in the store)."""
        if self.leadership is not None and not self.leadership.leads("quality"):
            return
        run_due(self.store)
        score_pending(self.store)  # answer quality of text models, per window
        if drift:
            for model in self.store.list_models():
                update_concept_drift(self.store, model)

    def _run(self) -> None:
        last_drift = 0.0
        while not self._stop.wait(self.tick_s):
            now = time.monotonic()
            drift = now - last_drift >= self.drift_s
            try:
                self.run_once(drift=drift)
            except Exception:  # the store may be down for a moment: log, try next tick
                log.exception("quality jobs failed")
            if drift:
                last_drift = now


class QualityCollector(CachedCollector):
    """Quality gauges on ``/metrics``, computed at most every ``ttl_s`` seconds:
    realised metrics over the last hour per model version, CBPE estimates, the newest
    evaluation run's metrics and the concept-drift detections of the last hour."""

    what = "quality gauges"
    logger = log

    def families(self) -> list[GaugeMetricFamily]:
        realised = GaugeMetricFamily(
            "vigil_quality",
            "Realised quality over the last hour (labelled predictions).",
            labels=["model_name", "model_version", "metric"],
        )
        estimated = GaugeMetricFamily(
            "vigil_quality_estimated",
            "CBPE estimate over the last hour (no labels needed).",
            labels=["model_name", "metric", "bound"],
        )
        evaluation = GaugeMetricFamily(
            "vigil_evaluation",
            "Metrics of the newest evaluation run per golden data set.",
            labels=["model_name", "model_version", "dataset", "metric"],
        )
        drift = GaugeMetricFamily(
            "vigil_concept_drift_detections",
            "Concept-drift detections in the last hour.",
            labels=["model_name", "model_version"],
        )
        end = time.time()
        start = end - WINDOW_S
        for model in self.store.list_models():
            task = Task(model.task)
            if task in (*CLASSIFICATION, Task.REGRESSION, Task.RANKING):
                self._realised(realised, model, task, start, end)
            if task in CLASSIFICATION:
                est = estimated_quality(
                    self.store, model, start, end, int(WINDOW_S), with_series=False
                )
                for metric, band in ((est or {}).get("summary") or {}).items():
                    if isinstance(band, dict):
                        for bound in ("value", "lower", "upper"):
                            if band.get(bound) is not None:
                                estimated.add_metric([model.name, metric, bound], band[bound])
            seen: set[str] = set()
            for run in qs.list_runs(self.store, model.id, limit=50):
                if run["dataset"] in seen or run["status"] != "succeeded":
                    continue
                seen.add(run["dataset"])
                for metric, value in (run["metrics"] or {}).items():
                    if isinstance(value, int | float) and metric != "n":
                        evaluation.add_metric(
                            [model.name, run["version"], run["dataset"], metric], float(value)
                        )
            counts: dict[str, int] = {}
            for event in qs.drift_events(self.store, model.id, start, end):
                counts[event["version"]] = counts.get(event["version"], 0) + 1
            for version, count in counts.items():
                drift.add_metric([model.name, version], count)
        return [realised, estimated, evaluation, drift]

    def _realised(
        self, family: GaugeMetricFamily, model: Any, task: Task, start: float, end: float
    ) -> None:
        rows, _ = prepare(task, qs.labelled_predictions(self.store, model.id, start, end))
        by_version: dict[str, list] = {}
        for r in rows:
            by_version.setdefault(r["version"], []).append(r)
        for version, items in by_version.items():
            values = metrics_for(task, items)
            for metric in GAUGE_METRICS:
                if values.get(metric) is not None:
                    family.add_metric([model.name, version, metric], float(values[metric]))
