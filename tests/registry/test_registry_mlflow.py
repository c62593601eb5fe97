"""Import from a real MLflow model registry on SQLite (the ``mlflow`` extra)."""

from __future__ import annotations

import pickle

import pytest

mlflow = pytest.importorskip("mlflow")

pytestmark = [
    pytest.mark.integration,
    # MLflow's own imports and store warn about things vigil cannot change
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


@pytest.fixture(scope="module")
def mlflow_registry(tmp_path_factory):
    """An MLflow tracking store and registry on SQLite: churn v1 and v2, alias champion
    on v2, legacy stage Staging on v1, and a model whose name vigil refuses."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment("churn", artifact_location=(root / "art").as_uri())
    runs = []
    for v in (1, 2):
        run = client.create_run(exp, tags={"mlflow.source.git.commit": f"commit{v}"})
        src = root / f"model{v}"
        src.mkdir()
        (src / "model.pkl").write_bytes(pickle.dumps({"weights": [v]}))
        (src / "MLmodel").write_text("flavors: {}\n")
        client.log_artifacts(run.info.run_id, str(src), artifact_path="model")
        client.log_metric(run.info.run_id, "auc", 0.8 + v / 100)
        client.log_param(run.info.run_id, "C", str(v))
        client.set_terminated(run.info.run_id)
        runs.append(run.info.run_id)
    client.create_registered_model("churn")
    for run_id in runs:
        client.create_model_version(
            "churn", f"runs:/{run_id}/model", run_id, description=f"from {run_id[:6]}"
        )
    client.set_registered_model_alias("churn", "champion", "2")
    with pytest.warns(FutureWarning):
        client.transition_model_version_stage("churn", "1", "Staging")
    client.create_registered_model("bad name")
    client.create_model_version("bad name", f"runs:/{runs[0]}/model", runs[0])
    return uri


@pytest.fixture
def registry(tmp_path):
    """A registry on SQLite only: the import does not depend on the backend."""
    from vigil.registry import Registry
    from vigil.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'vigil.db'}")
    yield Registry(store, tmp_path / "home", actor="tester")
    store.close()


def test_import_versions_metrics_lineage_and_aliases(mlflow_registry, registry):
    from vigil.registry.mlflow_import import import_mlflow

    summary = import_mlflow(registry, mlflow_registry)
    assert summary["versions"] == ["churn:1", "churn:2"]
    assert sorted(summary["aliases"]) == ["churn@champion -> 2", "churn@staging -> 1"]
    assert len(summary["failed"]) == 1 and summary["failed"][0].startswith("bad name:1")
    two = registry.get("churn", "2")
    assert two["metrics"] == {"auc": pytest.approx(0.82)}
    assert two["lineage"] == {"code_commit": "commit2"}
    assert two["meta"]["mlflow"]["params"] == {"C": "2"}
    assert {e["name"] for e in two["manifest"]} == {"MLmodel", "model.pkl"}
    path = registry.load("churn@champion")
    assert pickle.loads((path / "model.pkl").read_bytes()) == {"weights": [2]}
    history = registry.history("churn", "champion")
    assert history[0]["actor"] == "mlflow-import" and "MLflow" in history[0]["reason"]
    again = import_mlflow(registry, mlflow_registry, models=["churn"])
    assert again["versions"] == [] and again["skipped"] == ["churn:1", "churn:2"]
    assert again["aliases"] == []


def test_import_mlflow_cli(mlflow_registry, tmp_path, capsys):
    from vigil.cli.main import main

    common = ["--db", f"sqlite:///{tmp_path / 'cli.db'}", "--home", str(tmp_path)]
    main(
        [
            "registry",
            "import-mlflow",
            "--tracking-uri",
            mlflow_registry,
            "--model",
            "churn",
            *common,
        ]
    )
    assert "Imported 2 version(s)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["registry", "import-mlflow", "--tracking-uri", mlflow_registry, *common])
    assert info.value.code == 1
    out = capsys.readouterr().out
    assert "skipped 2 already there" in out and "failed: bad name:1" in out
