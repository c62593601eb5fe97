"""Import an MLflow model registry: versions with their artifacts, run metrics and aliases.

Needs the ``mlflow`` extra (``pip install 'vigil[mlflow]'``, MLflow's skinny client). Each
MLflow model version becomes a vigil version of the same name and number: its artifacts are
downloaded, hashed and signed like any registration, the run's metrics become the
version's metrics, its id, parameters and tags go to the metadata, and a git commit MLflow
recorded goes to the lineage. MLflow aliases (and the legacy ``Production``/``Staging``
stages, as lower-case aliases) are promoted in vigil. Re-running the import skips what is
already there.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from vigil.errors import ConfigurationError, VigilError

ACTOR = "mlflow-import"


def import_mlflow(
    registry: Any,
    tracking_uri: str,
    *,
    registry_uri: str | None = None,
    models: list[str] | None = None,
) -> dict[str, Any]:
    """Copy the MLflow registry at ``tracking_uri`` into ``registry``; return a summary.

    Args:
        registry: a :class:`~vigil.registry.Registry`.
        tracking_uri: MLflow's tracking URI (``sqlite:///mlflow.db``, ``http://host:5000``).
        registry_uri: MLflow's model-registry URI, when it differs from the tracking URI.
        models: names of the models to import (default all).

    Returns:
        ``{"versions": [...], "skipped": [...], "aliases": [...], "failed": [...]}``, each
        entry naming ``model:version`` (or ``model@alias``).
    """
    try:
        import mlflow.artifacts
        from mlflow import MlflowClient
    except ImportError:
        raise ConfigurationError(
            "Importing from MLflow needs the mlflow extra: pip install 'vigil[mlflow]'."
        ) from None
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri)
    summary: dict[str, list[str]] = {"versions": [], "skipped": [], "aliases": [], "failed": []}
    wanted = set(models) if models else None
    for rm in client.search_registered_models():
        if wanted is not None and rm.name not in wanted:
            continue
        existing = _existing(registry, rm.name)
        versions = sorted(
            client.search_model_versions(f"name='{rm.name}'"), key=lambda mv: int(mv.version)
        )
        for mv in versions:
            ref = f"{rm.name}:{mv.version}"
            if str(mv.version) in existing:
                summary["skipped"].append(ref)
                continue
            try:
                _import_version(registry, client, mlflow.artifacts, rm.name, mv, tracking_uri)
            except VigilError as exc:
                summary["failed"].append(f"{ref}: {exc.message}")
                continue
            summary["versions"].append(ref)
        aliases = dict(getattr(rm, "aliases", None) or {})
        for mv in versions:
            stage = (getattr(mv, "current_stage", None) or "").lower()
            if stage in ("production", "staging"):
                aliases.setdefault(stage, mv.version)
        for alias, version in sorted(aliases.items()):
            try:
                current = _current(registry, rm.name, alias)
                if current != str(version):
                    registry.promote(
                        rm.name,
                        alias,
                        str(version),
                        actor=ACTOR,
                        reason=f"imported from MLflow {tracking_uri}",
                    )
                    summary["aliases"].append(f"{rm.name}@{alias} -> {version}")
            except VigilError as exc:
                summary["failed"].append(f"{rm.name}@{alias}: {exc.message}")
    return summary


def _existing(registry: Any, model: str) -> set[str]:
    try:
        return {v["version"] for v in registry.versions(model)}
    except VigilError:
        return set()


def _current(registry: Any, model: str, alias: str) -> str | None:
    try:
        return registry.alias(model, alias)["resolved_version"]
    except VigilError:
        return None


def _import_version(
    registry: Any, client: Any, artifacts: Any, model: str, mv: Any, tracking_uri: str
) -> None:
    metrics: dict[str, float] = {}
    meta: dict[str, Any] = {
        "source": mv.source,
        "run_id": mv.run_id,
        "status": mv.status,
        "tags": dict(mv.tags or {}),
    }
    lineage: dict[str, Any] = {}
    if mv.run_id:
        run = client.get_run(mv.run_id)
        metrics = {k: float(v) for k, v in run.data.metrics.items()}
        meta["params"] = dict(run.data.params)
        meta["run_tags"] = {
            k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.log-model")
        }
        commit = run.data.tags.get("mlflow.source.git.commit")
        if commit:
            lineage["code_commit"] = commit
    uri = client.get_model_version_download_uri(model, mv.version)
    with tempfile.TemporaryDirectory(prefix="vigil-mlflow-") as tmp:
        local = Path(
            artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp, tracking_uri=tracking_uri)
        )
        registry.register(
            model,
            str(mv.version),
            local,
            notes=mv.description or None,
            metrics=metrics or None,
            metadata={"mlflow": meta},
            lineage=lineage or None,
            actor=ACTOR,
        )
