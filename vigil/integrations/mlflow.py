"""MLflow tracking: evaluation runs, drift reports and window metrics as MLflow runs.

:class:`MlflowLogger` talks to a tracking server or database through ``MlflowClient``
(extra ``mlflow``: the light ``mlflow-skinny``), never through MLflow's global active
run, so it does not disturb a training script's own run. Each evaluation becomes a run
in the experiment (created when missing) with the model, version and data set as
parameters, the task metrics and request latency as metrics, and ``vigil.*`` tags; a
drift report adds its data-set numbers and a ``drift.json`` table artifact; window
metrics are logged with each window's time as the metric timestamp. Registry import is
in :mod:`vigil.registry`. Failures are logged and counted, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from vigil.errors import ConfigurationError
from vigil.integrations.tracking import (
    drift_summary,
    drift_table,
    evaluation_record,
    window_points,
)

log = logging.getLogger("vigil.integrations")


class MlflowLogger:
    """Logs vigil results to an MLflow experiment.

    Args:
        tracking_uri: e.g. ``http://mlflow:5000`` or ``sqlite:///mlflow.db``; default
            MLflow's (``MLFLOW_TRACKING_URI``).
        experiment: the experiment's name (created when missing).
    """

    def __init__(self, tracking_uri: str | None = None, *, experiment: str = "vigil") -> None:
        try:
            from mlflow import MlflowClient
        except ImportError:
            raise ConfigurationError(
                "MLflow logging needs mlflow-skinny: pip install 'vigil[mlflow]'."
            ) from None
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.experiment = experiment
        self._experiment_id: str | None = None
        self.stats = {"runs": 0, "errors": 0}

    @property
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            found = self.client.get_experiment_by_name(self.experiment)
            self._experiment_id = (
                found.experiment_id
                if found is not None
                else self.client.create_experiment(self.experiment)
            )
        return self._experiment_id

    def _run(self, name: str, tags: Mapping[str, str], fill: Any) -> str | None:
        try:
            run = self.client.create_run(
                self.experiment_id, run_name=name, tags={"vigil.source": "vigil", **tags}
            )
        except Exception as exc:
            self.stats["errors"] += 1
            log.error("vigil: could not create an MLflow run: %s", exc)
            return None
        run_id = run.info.run_id
        status = "FINISHED"
        try:
            fill(run_id)
        except Exception as exc:
            self.stats["errors"] += 1
            status = "FAILED"
            log.error("vigil: could not log to MLflow run %s: %s", run_id, exc)
        try:
            self.client.set_terminated(run_id, status=status)
        except Exception as exc:
            self.stats["errors"] += 1
            log.error("vigil: could not end MLflow run %s: %s", run_id, exc)
        self.stats["runs"] += 1
        return run_id

    def log_evaluation(self, run: Mapping[str, Any]) -> str | None:
        """One MLflow run for a vigil evaluation run; its id, or None when MLflow failed."""
        from mlflow.entities import Metric, Param

        params, metrics, tags = evaluation_record(run)

        def fill(run_id: str) -> None:
            when = int(float(run.get("finished_at") or run.get("started_at") or 0) * 1000)
            self.client.log_batch(
                run_id,
                params=[Param(k, v) for k, v in params.items()],
                metrics=[Metric(k, v, when, 0) for k, v in metrics.items()],
                synchronous=True,
            )

        name = f"{run.get('model')} v{run.get('version')} on {run.get('dataset')}"
        return self._run(name, {**tags, "vigil.kind": "evaluation"}, fill)

    def log_drift(
        self, report: Any, *, model: str | None = None, version: str | None = None
    ) -> str | None:
        """One MLflow run for a drift report: summary metrics and a ``drift.json`` table."""
        from mlflow.entities import Metric, Param

        def fill(run_id: str) -> None:
            params = {k: v for k, v in (("model", model), ("version", version)) if v}
            self.client.log_batch(
                run_id,
                params=[Param(k, str(v)) for k, v in params.items()],
                metrics=[Metric(f"drift/{k}", v, 0, 0) for k, v in drift_summary(report).items()],
                synchronous=True,
            )
            columns, rows = drift_table(report)
            # MLflow's table layout (columns + data), written without pandas.
            self.client.log_dict(run_id, {"columns": columns, "data": rows}, "drift.json")

        return self._run(f"drift {model or ''}".strip(), {"vigil.kind": "drift"}, fill)

    def log_window_metrics(self, metrics: Mapping[str, Any]) -> str | None:
        """One MLflow run with each window's values, timestamped with the window start."""
        from mlflow.entities import Metric, Param

        def fill(run_id: str) -> None:
            batch = [
                Metric(name, value, ts * 1000, step)
                for step, (ts, values) in enumerate(window_points(metrics))
                for name, value in values.items()
            ]
            params = [
                Param(k, str(metrics[k]))
                for k in ("model", "version", "step")
                if metrics.get(k) is not None
            ]
            for i in range(0, max(len(batch), 1), 1000):  # log_batch takes 1,000 metrics
                self.client.log_batch(
                    run_id,
                    metrics=batch[i : i + 1000],
                    params=params if i == 0 else [],
                    synchronous=True,
                )

        return self._run(f"windows {metrics.get('model')}", {"vigil.kind": "windows"}, fill)
