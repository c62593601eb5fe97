"""Settings (argument > env > vigil.toml > default), instrument() and the server's exporters."""

from __future__ import annotations

import json
import threading
import time

import pytest

from vigil.errors import ConfigurationError
from vigil.integrations.config import load_integration_settings
from vigil.integrations.emf import EmfSink
from vigil.integrations.loki import LokiSink
from vigil.integrations.setup import instrument
from vigil.sdk import MemoryTransport, Monitor


def test_precedence_and_toml_tables(tmp_path, monkeypatch):
    (tmp_path / "vigil.toml").write_text(
        '[settings]\nport = 9000\n\n[integrations.loki]\nurl = "http://toml:3100"\n'
        'tenant = "t1"\n\n[integrations.cloudwatch]\nnamespace = "ml"\n'
        'dimensions = { Env = "prod" }\n'
    )
    monkeypatch.setenv("VIGIL_CONFIG", str(tmp_path / "vigil.toml"))
    s = load_integration_settings()
    assert (s.loki_url, s.loki_tenant, s.cloudwatch_namespace) == ("http://toml:3100", "t1", "ml")
    assert s.cloudwatch_dimensions == {"Env": "prod"}
    assert s.enabled() == ["cloudwatch", "loki"]
    monkeypatch.setenv("VIGIL_LOKI_URL", "http://env:3100")
    monkeypatch.setenv("VIGIL_OTLP_HEADERS", '{"Authorization": "Bearer x"}')
    s = load_integration_settings()
    assert s.loki_url == "http://env:3100" and s.otlp_headers == {"Authorization": "Bearer x"}
    assert load_integration_settings(loki_url="http://arg:3100").loki_url == "http://arg:3100"


def test_invalid_settings_name_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("VIGIL_CLOUDWATCH_INTERVAL_S", "-1")
    with pytest.raises(ConfigurationError, match="VIGIL_CLOUDWATCH_INTERVAL_S"):
        load_integration_settings()
    monkeypatch.delenv("VIGIL_CLOUDWATCH_INTERVAL_S")
    (tmp_path / "vigil.toml").write_text('[integrations]\nloki = "http://x"\n')
    monkeypatch.setenv("VIGIL_CONFIG", str(tmp_path / "vigil.toml"))
    with pytest.raises(ConfigurationError, match=r"\[integrations.loki\] .* must be a table"):
        load_integration_settings()


def test_instrument_attaches_what_is_configured(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("VIGIL_EMF_NAMESPACE", "vigil")
    monkeypatch.setenv("VIGIL_EMF_PATH", str(tmp_path / "emf.log"))
    monkeypatch.setenv("VIGIL_LOKI_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("VIGIL_SENTRY_DSN", "not a dsn")  # logged and skipped, not raised
    mon = Monitor("m", transport=MemoryTransport(), spool_dir=tmp_path / "spool")
    with caplog.at_level("ERROR", logger="vigil.integrations"):
        sinks = instrument(mon)
    assert [type(s) for s in sinks] == [EmfSink, LokiSink]
    assert "the sentry integration is off" in caplog.text
    mon.log_prediction({"x": 1}, 2, latency_s=0.01)
    assert mon.close()
    line = json.loads((tmp_path / "emf.log").read_text().splitlines()[0])
    assert line["Model"] == "m" and line["Predictions"] == 1


@pytest.mark.integration
def test_the_server_publishes_window_metrics_while_it_runs(tmp_path, monkeypatch, receiver):
    from support.servers import thread_server

    from vigil.config import load_settings
    from vigil.engine.ingest.ingestor import Ingestor
    from vigil.store import open_store

    posts = []
    collector = receiver(lambda req: (posts.append(json.loads(req.body)), (200, {}, b""))[1])
    monkeypatch.setenv("VIGIL_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("VIGIL_OTLP_INTERVAL_S", "0.1")
    monkeypatch.setenv("VIGIL_EXPORT_LAG_S", "0")
    monkeypatch.setenv("VIGIL_EXPORT_BACKFILL_S", "180")
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    ing = Ingestor(store)
    ing.register_model(
        {
            "name": "churn",
            "task": "regression",
            "schema": {"features": [{"name": "x", "kind": "numeric"}]},
        }
    )
    ts = time.time() - 70  # a minute that has ended
    ing.ingest_predictions(
        "churn",
        [
            {"id": f"p{i}", "ts": ts, "latency_s": 0.02, "inputs": {"x": 1.0}, "outputs": 1.0}
            for i in range(4)
        ],
    )
    with thread_server(load_settings(home=tmp_path), store):
        deadline = time.monotonic() + 10
        while not posts and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(t.name == "vigil-exporters" for t in threading.enumerate())
    metrics = posts[0]["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
    requests = next(m for m in metrics if m["name"] == "vigil.model.requests")
    assert requests["sum"]["dataPoints"][0]["asInt"] == "4"
    deadline = time.monotonic() + 5
    while any(t.name == "vigil-exporters" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the exporter thread outlived the server"
        time.sleep(0.05)
    store.close()


def test_every_integration_setting_is_documented_and_the_toml_example_loads(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    from vigil.integrations.config import IntegrationSettings

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Integrations", 1)[1].split("\n## ", 1)[0]
    for name in IntegrationSettings.model_fields:
        assert f"VIGIL_{name.upper()}" in section, name
    block = re.search(r"```toml\n(\[integrations\.cloudwatch\].*?)```", section, re.S).group(1)
    (tmp_path / "vigil.toml").write_text(block)
    monkeypatch.setenv("VIGIL_CONFIG", str(tmp_path / "vigil.toml"))
    s = load_integration_settings()
    assert s.enabled() == ["cloudwatch", "loki"] and s.cloudwatch_dimensions == {"Env": "prod"}


def test_integration_modules_import_their_libraries_lazily():
    import subprocess
    import sys

    code = (
        "import sys, vigil.integrations.setup, vigil.integrations.cloudwatch, "
        "vigil.integrations.otlp, vigil.integrations.sentry, vigil.integrations.ecs, "
        "vigil.integrations.loki, vigil.integrations.elasticsearch, vigil.integrations.emf, "
        "vigil.integrations.wandb, vigil.integrations.mlflow; "
        "print(sorted(m for m in ('boto3', 'botocore', 'sentry_sdk', 'ecs_logging', "
        "'wandb', 'mlflow', 'google.protobuf', 'httpx', 'fastapi', 'sqlalchemy') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_status_shows_what_is_on_with_secrets_masked(monkeypatch):
    from typer.testing import CliRunner

    from vigil.cli.main import app

    monkeypatch.setenv("VIGIL_SENTRY_DSN", "https://secretkey@o1.ingest.sentry.io/42")
    monkeypatch.setenv("VIGIL_LOKI_URL", "http://loki:3100")
    result = CliRunner().invoke(app, ["integrations", "status"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert lines["sentry"].split()[1] == "on" and "secretkey" not in result.output
    assert "https://***@o1.ingest.sentry.io/42" in lines["sentry"]
    assert lines["loki"].split()[1] == "on" and lines["cloudwatch"].split()[1] == "off"
    rows = json.loads(CliRunner().invoke(app, ["integrations", "status", "--json"]).output)
    assert {r["name"] for r in rows if r["enabled"]} == {"sentry", "loki"}
