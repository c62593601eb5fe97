"""Weights & Biases: window metrics, drift tables and evaluation runs (extra ``wandb``).

:class:`WandbLogger` opens one W&B run (online, or ``mode="offline"`` to sync later) and
logs:

* window metrics (``window_metrics``/``GET /models/{m}/metrics``) as
  ``<model>/<version>/<field>`` against the custom x-axis ``window_ts`` (the window's
  Unix start), so re-logging a range does not fight W&B's own step counter;
* a drift report as a ``wandb.Table`` (one row per feature) plus its data-set numbers
  under ``<key>/...``;
* an evaluation run's metrics and latency under ``eval/...`` in the run summary, its
  parameters in the run config.

Every call fails soft: an error is logged and counted in :attr:`WandbLogger.stats`.
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


class WandbLogger:
    """Logs vigil results to one W&B run, created on first use.

    Args:
        project: the W&B project.
        entity: the team or user; default the API key's.
        mode: ``online``, ``offline`` (files under ``dir``, ``wandb sync`` later) or
            ``disabled``; default W&B's (``WANDB_MODE``).
        dir: where run files go.
        name: the run's display name.
        config: extra run configuration.
    """

    def __init__(
        self,
        project: str,
        *,
        entity: str | None = None,
        mode: str | None = None,
        dir: str | None = None,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            import wandb
        except ImportError:
            raise ConfigurationError(
                "W&B logging needs wandb: pip install 'vigil[wandb]'."
            ) from None
        self._wandb = wandb
        self._kwargs = {
            "project": project,
            "entity": entity,
            "mode": mode,
            "dir": dir,
            "name": name,
            "config": dict(config or {}),
            "job_type": "monitoring",
        }
        self._run: Any = None
        self.stats = {"logged": 0, "errors": 0}

    @property
    def run(self) -> Any:
        """The W&B run (started on first access)."""
        if self._run is None:
            wandb = self._wandb
            settings = wandb.Settings(silent=True, console="off", x_disable_stats=True)
            self._run = wandb.init(
                **{k: v for k, v in self._kwargs.items() if v is not None}, settings=settings
            )
            self._run.define_metric("window_ts")
        return self._run

    def _safely(self, what: str, fn: Any) -> bool:
        try:
            fn()
        except Exception as exc:
            self.stats["errors"] += 1
            log.error("vigil: could not log %s to W&B: %s", what, exc)
            return False
        self.stats["logged"] += 1
        return True

    def log_window_metrics(self, metrics: Mapping[str, Any]) -> bool:
        """Log each window of a ``window_metrics`` answer; False when W&B failed."""
        prefix = f"{metrics.get('model')}/{metrics.get('version') or 'all'}"

        def log_all() -> None:
            self.run.define_metric(f"{prefix}/*", step_metric="window_ts")
            for ts, values in window_points(metrics):
                self.run.log({"window_ts": ts, **{f"{prefix}/{k}": v for k, v in values.items()}})

        return self._safely("window metrics", log_all)

    def log_drift(self, report: Any, key: str = "drift") -> bool:
        """Log a drift report as a table under ``key`` and its summary numbers."""

        def log_table() -> None:
            columns, rows = drift_table(report)
            table = self._wandb.Table(columns=columns, data=rows)
            summary = {f"{key}/{k}": v for k, v in drift_summary(report).items()}
            self.run.log({key: table, **summary})

        return self._safely("a drift report", log_table)

    def log_evaluation(self, run: Mapping[str, Any]) -> bool:
        """Log an evaluation run: params to the config, metrics to the summary."""

        def log_eval() -> None:
            params, metrics, tags = evaluation_record(run)
            self.run.config.update(
                {f"eval/{k}": v for k, v in params.items()}, allow_val_change=True
            )
            for name, value in {**metrics, **tags}.items():
                self.run.summary[f"eval/{name}"] = value

        return self._safely("an evaluation run", log_eval)

    def finish(self) -> None:
        """Finish the run (writes its files; uploads in online mode)."""
        if self._run is not None:
            self._safely("the end of the run", self._run.finish)
            self._run = None
