"""`vigil rules`, `vigil alerts` and `vigil export` as real processes; README's TOML example."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alerts_support import Traffic, put_rule

from vigil.engine.alerts.apply import apply, parse_config
from vigil.engine.alerts.lifecycle import AlertEngine
from vigil.store import open_store
from vigil.store.alerts.queries import AlertStore

# these tests send to receivers on loopback, which vigil refuses by default
pytestmark = pytest.mark.usefixtures("allow_private_targets")

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")

CONFIG = """
[settings]
port = 9000

[notifiers.hook]
type = "webhook"
url = "http://127.0.0.1:9/hook"
secret = "s3cret"

[actions.retrain]
type = "retrain"
command = ["true"]

[[rules]]
name = "errors"
model = "churn"
metric = "error_rate"
threshold = 0.05
window = "5m"
for = "2m"
notifiers = ["hook"]
actions = ["retrain"]

[[rules]]
name = "silent"
kind = "no_data"
window = "15m"
"""


def vigil(*args: str) -> subprocess.CompletedProcess:
    """The real console script: one-line errors, exit codes."""
    return subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", *args], capture_output=True, text=True, timeout=120
    )


def run(*args: str) -> str:
    """The same commands in this process (faster), for the happy paths."""
    from typer.testing import CliRunner

    from vigil.cli.main import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_rules_apply_is_idempotent_and_shows_a_diff(tmp_path):
    db = f"sqlite:///{tmp_path / 'v.db'}"
    path = tmp_path / "vigil.toml"
    path.write_text(CONFIG)
    first = run("rules", "apply", str(path), "--db", db)
    assert "+ rule errors" in first and "+ notifier hook" in first
    assert "applied: 4 created, 0 updated, 0 deleted, 0 unchanged." in first
    silent = '[[rules]]\nname = "silent"\nkind = "no_data"\nwindow = "15m"\n'
    path.write_text(
        CONFIG.replace("threshold = 0.05", "threshold = 0.1")
        .replace('secret = "s3cret"', 'secret = "other"')
        .replace(silent, "")
    )
    second = run("rules", "apply", str(path), "--db", db, "--dry-run")
    assert "~ rule errors: threshold 0.05 -> 0.1" in second
    assert "~ notifier hook: secret '***' -> '***'" in second
    assert "? rule silent (not in the file; kept, use --prune to delete)" in second
    assert "s3cret" not in second and "other" not in second
    store = open_store(db)
    try:
        assert AlertStore(store).get_rule("errors")["threshold"] == 0.05  # dry run
    finally:
        store.close()
    third = run("rules", "apply", str(path), "--db", db, "--prune")
    assert "- rule silent" in third and "1 deleted" in third
    assert run("rules", "apply", str(path), "--db", db).strip() == "No changes (3 unchanged)."
    path.write_text('[[rules]]\nname = "x"\nmetric = "error_rate"\nthreshold = 1\nwindow = "10x"\n')
    bad = vigil("rules", "apply", str(path), "--db", db)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "rules[0]: 'window' must be a duration" in bad.stderr
    listed = run("rules", "list", "--db", db)
    assert "errors" in listed and "0.1" in listed  # the rule's text may wrap in the table
    assert "latency_p95" in run("rules", "metrics")


def test_alerts_list_ack_silence_and_exports(tmp_path):
    db = f"sqlite:///{tmp_path / 'v.db'}"
    store = open_store(db)
    try:
        traffic = Traffic(store)
        traffic.model()
        traffic.send(time.time() - 30, count=10, errors=5)
        put_rule(store, name="errors", model="churn", metric="error_rate", threshold=0.2)
        AlertEngine(store).evaluate()
        (alert,) = AlertStore(store).list_alerts()
    finally:
        store.close()
    listed = run("alerts", "list", "--db", db)
    assert re.search(rf"{alert['id']}\s+│\s+firing\s+│\s+errors\s+│\s+churn", listed), listed
    acked = run("alerts", "ack", str(alert["id"]), "--for", "2h", "--db", db)
    assert f"Acknowledged alert {alert['id']} until" in acked
    silenced = run("alerts", "silence", "--rule", "errors", "--for", "30m", "--db", db)
    assert "{'alertname': 'errors'}" in silenced
    shown = run("alerts", "show", str(alert["id"]), "--db", db)
    assert "pending" in shown and "firing" in shown and "acked" in shown
    assert "firing" in run("alerts", "list", "--state", "all", "--db", db)
    bad = vigil("alerts", "ack", "999", "--db", db)
    assert bad.returncode == 1 and "No alert with id 999" in bad.stderr
    bad = vigil("alerts", "silence", "--for", "1h", "--db", db)
    assert bad.returncode == 1 and "--rule" in bad.stderr
    out = tmp_path / "rules.yml"
    exported = run("export", "prometheus-rules", "-o", str(out), "--db", db)
    assert "Wrote 1 alerting rules" in exported
    assert "alert: errors" in out.read_text()
    run("export", "grafana", "-o", str(tmp_path / "g"))
    assert (tmp_path / "g" / "dashboards" / "vigil-overview.json").is_file()
    assert (tmp_path / "g" / "provisioning" / "datasources" / "vigil.yaml").is_file()


def test_readme_example_applies(store, monkeypatch):
    block = re.search(r"```toml\n(\[notifiers\.oncall\].*?)```", README, re.S).group(1)
    config = parse_config(block, "README")
    assert [r["name"] for r in config["rules"]] == [
        "churn-errors",
        "churn-errors-vs-last-week",
        "silent-model",
    ]
    changes = apply(store, config)
    assert sorted(str(c) for c in changes)[0].startswith("+ ")
    assert all(c.op == "=" for c in apply(store, config))
