"""``vigil privacy`` and ``vigil audit`` commands, and the compliance report's checklist."""

from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys
import time

import pandas as pd
import pytest
import sqlalchemy as sa
from support.records import SCHEMA, record
from typer.testing import CliRunner

from vigil.audit.compliance import compliance_report, render_html
from vigil.cli.main import app
from vigil.engine.ingest.ingestor import Ingestor
from vigil.registry import IntegrityError, Registry
from vigil.store import open_store
from vigil.store.alerts.queries import AlertStore
from vigil.store.registry.tables import registry_versions

runner = CliRunner()


def _vigil(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _seed(url: str) -> None:
    store = open_store(url)
    try:
        ingestor = Ingestor(store)
        ingestor.register_model({"name": "churn", "schema": SCHEMA})
        ingestor.ingest_predictions("churn", [record(1, subject_id="u9"), record(2)])
        ingestor.ingest_labels("churn", [{"prediction_id": "p1", "actual": 1}])
    finally:
        store.close()


def test_privacy_commands_end_to_end(tmp_path):
    url = f"sqlite:///{tmp_path / 'v.db'}"
    _seed(url)
    out = _vigil("privacy", "export", "u9", "--db", url, "-o", str(tmp_path / "u9.json"))
    assert out.exit_code == 0, out.output
    exported = json.loads((tmp_path / "u9.json").read_text())
    assert [p["id"] for p in exported["predictions"]] == ["p1"]
    out = _vigil(
        "privacy",
        "policy",
        "set",
        "churn",
        "note",
        "--action",
        "mask",
        "--kind",
        "email",
        "--db",
        url,
    )
    assert out.exit_code == 0, out.output
    listed = _vigil("privacy", "policy", "list", "churn", "--db", url).output
    assert "note" in listed and "email" in listed and "kept forever" in listed
    assert _vigil("privacy", "retention", "set", "churn", "30", "--db", url).exit_code == 0
    ran = json.loads(_vigil("privacy", "retention", "run", "--db", url).output)
    assert ran["deleted"]["churn"]["predictions"] == 0
    erased = _vigil("privacy", "erase", "u9", "--db", url)
    assert erased.exit_code == 0
    receipt = json.loads(erased.output[erased.output.index("{") :])
    assert receipt["deleted"]["predictions"] == 1 and receipt["deleted"]["labels"] == 1
    assert _vigil("privacy", "policy", "delete", "churn", "note", "--db", url).exit_code == 0
    verified = _vigil("audit", "verify-log", "--db", url)
    assert verified.exit_code == 0 and "intact" in verified.output


def test_cli_mistakes_are_one_line_errors(tmp_path):
    url = f"sqlite:///{tmp_path / 'v.db'}"
    _seed(url)
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil.cli.main",
            "privacy",
            "policy",
            "set",
            "churn",
            "age",
            "--action",
            "hash",
            "--db",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "only text and categorical" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) <= 2


def test_verify_log_fails_on_a_tampered_log(tmp_path):
    url = f"sqlite:///{tmp_path / 'v.db'}"
    _seed(url)
    store = open_store(url)
    store.audit("cli", "key.create", "k1")
    store.audit("cli", "key.create", "k2")
    with store.write() as conn:
        conn.execute(sa.text("DROP TRIGGER audit_log_no_update"))
        conn.execute(sa.text("UPDATE audit_log SET target = 'k9' WHERE target = 'k1'"))
    store.close()
    out = _vigil("audit", "verify-log", "--db", url)
    assert out.exit_code == 1
    assert "BROKEN" in out.output


def test_compliance_report_checklist(store, tmp_path):
    ingestor = Ingestor(store)
    ingestor.register_model({"name": "churn", "schema": SCHEMA})
    report = compliance_report(store, "churn")
    status = {c["id"]: c["status"] for c in report["checks"]}
    assert status["pii_policy"] == "fail"  # 'note' is a text feature without a policy
    assert status["retention_configured"] == "fail"
    assert status["audit_log"] == "pass"
    assert status["artifact"] == "unknown"
    assert status["evaluation"] == "unknown"
    assert not report["passed"]

    from vigil.engine.privacy import admin

    admin.set_policy(store, "churn", "note", "mask", None, "test")
    admin.set_retention(store, "churn", 30, "test")
    admin.run_retention(store, "test")
    admin.erase(store, "u1", "test")
    record_, _ = store.create_api_key("old", ["ingest"])
    with store.write() as conn:
        conn.execute(
            sa.text("UPDATE api_keys SET created_at = :t WHERE id = :i"),
            {"t": time.time() - 200 * 86400, "i": record_.id},
        )
        runs = sa.Table("evaluation_runs", sa.MetaData(), autoload_with=conn)
        conn.execute(
            runs.insert().values(
                model_id=store.get_model("churn").id,
                dataset="golden",
                version="1",
                mode="in_process",
                status="succeeded",
                started_at=time.time(),
                finished_at=time.time(),
                n_rows=100,
                metrics={
                    "accuracy": 0.9,
                    "fairness": {
                        "disparate_impact_ratio": {"value": 0.7},
                        "demographic_parity_difference": {"value": 0.05},
                    },
                },
            )
        )
    report = compliance_report(store, "churn")
    by_id = {c["id"]: c for c in report["checks"]}
    assert by_id["pii_policy"]["status"] == "pass"
    assert by_id["retention_configured"]["status"] == "pass"
    assert by_id["retention_enforced"]["status"] == "pass"
    assert by_id["erasure"]["evidence"]["deleted"]["predictions"] == 0
    assert by_id["keys"]["status"] == "fail" and by_id["keys"]["evidence"]["stale"] == [record_.id]
    assert by_id["evaluation"]["status"] == "pass"
    assert by_id["fairness"]["status"] == "fail"
    assert "disparate impact 0.700 < 0.8" in by_id["fairness"]["reason"]
    assert report["failed"] == ["keys", "fairness"]
    html = render_html(report)
    assert "Compliance report: churn" in html and 'class="fail">fail' in html
    assert "<script" not in html


def test_compliance_artifact_and_alert_items_read_the_registry_and_alerts(store, tmp_path):
    """The artifact item passes for a signed version and fails once a load was refused or
    the signature is gone; the alerts item fails while an alert of the model is open."""

    def items():
        return {c["id"]: c for c in compliance_report(store, "churn")["checks"]}

    Ingestor(store).register_model({"name": "churn", "schema": SCHEMA})
    registry = Registry(store, tmp_path / "home", actor="tester")
    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(pickle.dumps({"w": [1, 2]}))
    registry.register("churn", "1", model_file)
    artifact = items()["artifact"]
    assert artifact["status"] == "pass" and artifact["evidence"]["version"] == "1"
    assert items()["alerts"]["status"] == "pass"

    blob = registry.artifacts.blob_path(registry.get("churn", "1")["manifest"][0]["digest"])
    os.chmod(blob, stat.S_IRUSR | stat.S_IWUSR)
    blob.write_bytes(b"tampered")
    with pytest.raises(IntegrityError):
        registry.load("churn:1")
    artifact = items()["artifact"]
    assert artifact["status"] == "fail" and "was refused" in artifact["reason"]
    assert artifact["evidence"]["refused"]["code"] == "integrity_error"

    registry.register("churn", "2", model_file)
    with store.write() as conn:
        conn.execute(
            registry_versions.update()
            .where(registry_versions.c.version == "2")
            .values(signature=None)
        )
    artifact = items()["artifact"]
    assert artifact["status"] == "fail" and "no signed artifact" in artifact["reason"]

    now = time.time()
    alert_id = AlertStore(store).open_alert(
        {
            "fingerprint": "f" * 64,
            "rule": "slow",
            "labels": {"model": "churn"},
            "severity": "critical",
            "state": "firing",
            "started_at": now,
            "updated_at": now,
        },
        {"ts": now, "kind": "firing"},
    )
    alerts = items()["alerts"]
    assert alerts["status"] == "fail"
    assert alerts["evidence"]["open"] == [{"id": alert_id, "rule": "slow", "severity": "critical"}]


def test_compliance_and_data_commands_write_files(tmp_path):
    url = f"sqlite:///{tmp_path / 'v.db'}"
    _seed(url)
    out = _vigil(
        "audit", "compliance", "--model", "churn", "-o", str(tmp_path / "r.json"), "--db", url
    )
    assert out.exit_code == 1  # no redaction policy, no retention
    assert json.loads((tmp_path / "r.json").read_text())["failed"][:2] == [
        "pii_policy",
        "retention_configured",
    ]
    assert (
        _vigil(
            "audit", "compliance", "--model", "churn", "-o", str(tmp_path / "r.html"), "--db", url
        ).exit_code
        == 1
    )
    assert "<table>" in (tmp_path / "r.html").read_text()
    pd.DataFrame({"text": ["call +1 415 555 2671", "hello"], "x": [1.0, 2.0]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    pd.DataFrame({"x": [1.0, 2.0, 1.5, 1.2]}).to_csv(tmp_path / "ref.csv", index=False)
    out = _vigil(
        "audit",
        "data",
        str(tmp_path / "d.csv"),
        "--reference",
        str(tmp_path / "ref.csv"),
        "--json",
        str(tmp_path / "scan.json"),
        "--fail-on-findings",
    )
    assert out.exit_code == 1
    scanned = json.loads((tmp_path / "scan.json").read_text())
    assert scanned["columns"]["text"]["pii"] == {"phone": 1}
    assert "415" not in (tmp_path / "scan.json").read_text()
