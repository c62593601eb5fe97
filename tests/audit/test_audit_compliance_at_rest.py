"""The compliance report inspects the data at rest: PII in stored rows and rollups, auth
and key state, retention actually applied; every item maps to GDPR and HIPAA; an unknown
item is not a pass."""

from __future__ import annotations

import json
import time

import pytest

from vigil.audit.compliance import compliance_report, render_html
from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.privacy import admin

SCHEMA = {
    "task": "binary_classification",
    "features": [{"name": "note", "kind": "text"}, {"name": "age", "kind": "numeric"}],
}
NUMERIC = {"task": "binary_classification", "features": [{"name": "age", "kind": "numeric"}]}
EMAIL, SSN, PHONE = "jo.schmidt@example.org", "536-22-8726", "+44 20 7946 0958"


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'vigil.db'}"


def _fold(store) -> None:
    """Bring the rollups up to date where ingest leaves them to an aggregator."""
    try:
        from vigil.store.ingest import aggregation
    except ImportError:  # rollups written at ingest
        return
    aggregation.fold(store)


def _checks(report):
    return {c["id"]: c for c in report["checks"]}


def test_raw_pii_in_tables_and_rollups_fails_and_the_report_names_no_value(store):
    ingest = Ingestor(store)
    ingest.register_model({"name": "churn", "schema": SCHEMA})
    ingest.ingest_predictions(
        "churn",
        [
            {
                "id": "p1",
                "inputs": {"note": f"mail me at {EMAIL}", "age": 30},
                "outputs": 1,
                "error": f"callback {PHONE} failed",
            },
            {"id": "p2", "inputs": {"note": "hello", "age": 31}, "outputs": 0},
        ],
    )
    ingest.ingest_labels("churn", [{"prediction_id": "p1", "actual": 1}])
    ingest.ingest_feedback(
        "churn", [{"id": "f1", "prediction_id": "p2", "score": 0, "comment": f"my SSN is {SSN}"}]
    )
    _fold(store)
    report = compliance_report(store, "churn", auth_required=True)
    at_rest = _checks(report)["pii_at_rest"]
    assert at_rest["status"] == "fail"
    places = at_rest["evidence"]["places"]
    assert places["predictions.inputs"]["pii"] == {"email": 1}
    assert places["predictions.error"]["pii"] == {"phone": 1}
    assert places["feedback.comment"]["pii"] == {"us_ssn": 1}
    assert places["labels.actual"]["pii"] == {}
    assert places["rollups.profile"]["pii"] == {}  # free text never reaches a sketch
    assert set(at_rest["evidence"]["safe_harbor"]) == {"email", "phone", "us_ssn"}
    assert "164.514(b)(2)(i) Safe Harbor identifiers" in at_rest["hipaa"]
    text = json.dumps(report) + render_html(report)
    for value in (EMAIL, SSN, PHONE, "7946"):
        assert value not in text  # kinds and counts, never the values
    assert not report["passed"] and "pii_at_rest" in report["failed"]


def test_clean_data_passes_and_every_item_is_mapped(store):
    ingest = Ingestor(store)
    ingest.register_model({"name": "clean", "schema": NUMERIC})
    ingest.ingest_predictions(
        "clean", [{"id": f"c{i}", "inputs": {"age": 20 + i}, "outputs": i % 2} for i in range(50)]
    )
    report = compliance_report(store, "clean", auth_required=True)
    checks = _checks(report)
    assert checks["pii_at_rest"]["status"] == "pass"
    assert "50 predictions" in checks["pii_at_rest"]["reason"]
    assert all(c["gdpr"] for c in report["checks"]), [
        c["id"] for c in report["checks"] if not c["gdpr"]
    ]
    assert "Art. 17 right to erasure" in checks["erasure"]["gdpr"]
    html = render_html(report)
    assert "Art. 5(1)(e) storage limitation" in html and "164.312(b) audit controls" in html


def test_unknown_is_not_pass(store):
    Ingestor(store).register_model({"name": "fresh", "schema": NUMERIC})
    admin.set_retention(store, "fresh", 30, "test")
    admin.run_retention(store, "test")
    store.create_api_key("ops", ["admin"])
    report = compliance_report(store, "fresh", auth_required=True)
    assert report["failed"] == []
    assert {"pii_at_rest", "artifact", "evaluation"} <= set(report["unknown"])
    assert report["passed"] is False


def test_keys_reflect_whether_the_server_requires_them(store):
    Ingestor(store).register_model({"name": "m", "schema": NUMERIC})
    assert _checks(compliance_report(store, "m"))["keys"]["status"] == "unknown"
    off = _checks(compliance_report(store, "m", auth_required=False))["keys"]
    assert off["status"] == "fail" and "does not require API keys" in off["reason"]
    assert (
        _checks(compliance_report(store, "m", auth_required=True))["keys"]["status"] == "fail"
    )  # required, but no key exists
    store.create_api_key("ops", ["read"])
    assert _checks(compliance_report(store, "m", auth_required=True))["keys"]["status"] == "pass"


def test_retention_is_checked_against_the_stored_events(store):
    ingest = Ingestor(store)
    ingest.register_model({"name": "m", "schema": NUMERIC})
    admin.set_retention(store, "m", 30, "test")
    admin.run_retention(store, "test")
    assert _checks(compliance_report(store, "m"))["retention_enforced"]["status"] == "pass"
    old = time.time() - 45 * 86400  # e.g. restored from a backup after the job ran
    ingest.ingest_predictions("m", [{"id": "old", "ts": old, "inputs": {"age": 1}, "outputs": 0}])
    enforced = _checks(compliance_report(store, "m"))["retention_enforced"]
    assert enforced["status"] == "fail" and enforced["evidence"]["expired_events"] == 1
    admin.run_retention(store, "test")
    assert _checks(compliance_report(store, "m"))["retention_enforced"]["status"] == "pass"
