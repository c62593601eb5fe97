"""The compliance report of one model: a checklist with evidence and a reason per item.

Each item passes, fails or is ``unknown`` (nothing recorded to judge by, e.g. no
evaluation run yet); the report passes only when every item passes — unknown is not
pass. Items read what other parts of vigil record — the registry's signatures and
refusals, evaluation runs, alerts — and the data at rest itself: a sample of the stored
rows and rollups is scanned for personal data, and the events older than the retention
period are counted. Each item names the GDPR articles and HIPAA provisions (Safe Harbor
identifiers, Security Rule sections) it gives evidence for.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from vigil.errors import ModelNotFoundError
from vigil.schema import FeatureKind, ModelSchema
from vigil.store import Store
from vigil.store.audit_chain import verify_log
from vigil.store.privacy import compliance as cq
from vigil.store.privacy import queries as q

STALE_KEY_DAYS = 90
DISPARATE_IMPACT_MIN = 0.8  # the four-fifths rule
PARITY_DIFFERENCE_MAX = 0.1


@dataclass(slots=True)
class Check:
    """One checklist item."""

    id: str
    title: str
    status: str  # pass | fail | unknown
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


# what each item gives evidence for: GDPR articles, HIPAA (45 CFR) provisions
MAPPING: dict[str, dict[str, list[str]]] = {
    "artifact": {"gdpr": ["Art. 32(1)(b) integrity"], "hipaa": ["164.312(c)(1) integrity"]},
    "pii_policy": {
        "gdpr": ["Art. 25 data protection by design", "Art. 5(1)(c) minimisation"],
        "hipaa": ["164.514(b)(2) Safe Harbor de-identification"],
    },
    "pii_at_rest": {
        "gdpr": ["Art. 5(1)(c) minimisation", "Art. 32(1)(a) pseudonymisation"],
        "hipaa": ["164.514(b)(2)(i) Safe Harbor identifiers"],
    },
    "retention_configured": {"gdpr": ["Art. 5(1)(e) storage limitation"], "hipaa": []},
    "retention_enforced": {"gdpr": ["Art. 5(1)(e) storage limitation"], "hipaa": []},
    "erasure": {"gdpr": ["Art. 17 right to erasure"], "hipaa": []},
    "keys": {
        "gdpr": ["Art. 32(1)(b) confidentiality"],
        "hipaa": ["164.312(a)(1) access control", "164.312(d) authentication"],
    },
    "audit_log": {
        "gdpr": ["Art. 5(2) accountability", "Art. 30 records of processing"],
        "hipaa": ["164.312(b) audit controls"],
    },
    "evaluation": {"gdpr": ["Art. 5(1)(d) accuracy"], "hipaa": []},
    "fairness": {"gdpr": ["Art. 22 and Recital 71 automated decisions"], "hipaa": []},
    "alerts": {
        "gdpr": ["Art. 32(1)(d) regular testing"],
        "hipaa": ["164.308(a)(1)(ii)(D) information system activity review"],
    },
}


def compliance_report(
    store: Store,
    model: str,
    *,
    now: float | None = None,
    retention_interval_s: float = 3600.0,
    auth_required: bool | None = None,
) -> dict[str, Any]:
    """Build the checklist for ``model`` (see the module docstring). ``auth_required``:
    whether the server demands API keys (None: not known to the caller)."""
    now = time.time() if now is None else now
    record = store.get_model(model)
    if record is None:
        raise ModelNotFoundError(f"No model named {model!r} is registered.")
    schema = ModelSchema.from_dict(record.schema)
    checks = [
        _artifact(store, record.id, model),
        _pii_coverage(store, record.id, schema),
        _pii_at_rest(store, record.id),
        *_retention(store, record.id, now, retention_interval_s),
        _erasure(store),
        _keys(store, now, auth_required),
        _audit_chain(store),
        *_evaluation(store, record.id),
        _alerts(store, model),
    ]
    failed = [c.id for c in checks if c.status == "fail"]
    unknown = [c.id for c in checks if c.status == "unknown"]
    items = [{**asdict(c), **MAPPING.get(c.id, {"gdpr": [], "hipaa": []})} for c in checks]
    return {
        "model": model,
        "generated_at": now,
        "passed": not failed and not unknown,
        "failed": failed,
        "unknown": unknown,
        "checks": items,
    }


def _pii_at_rest(store: Store, model_id: int) -> Check:
    from vigil.audit.at_rest import SAFE_HARBOR, scan_at_rest

    title = "No personal data at rest"
    places = scan_at_rest(store, model_id)
    scanned = sum(p["rows_scanned"] for p in places.values())
    if not scanned:
        return Check(
            "pii_at_rest", title, "unknown", "nothing is stored to scan yet", {"places": places}
        )
    dirty = {name: p["pii"] for name, p in places.items() if p["pii"]}
    kinds = sorted({k for pii in dirty.values() for k in pii})
    evidence = {
        "places": places,
        "safe_harbor": {k: SAFE_HARBOR[k] for k in kinds if k in SAFE_HARBOR},
        "not_detected": "names the text does not introduce (no NER backend)",
    }
    if dirty:
        where = ", ".join(f"{name} ({', '.join(sorted(pii))})" for name, pii in dirty.items())
        return Check(
            "pii_at_rest",
            title,
            "fail",
            f"personal data found in {where}; add "
            "redaction policies and erase or expire what is stored",
            evidence,
        )
    per_table: dict[str, int] = {}
    for name, p in places.items():
        table = name.split(".")[0]
        per_table[table] = max(per_table.get(table, 0), p["rows_scanned"])
    counted = ", ".join(f"{n} {table}" for table, n in per_table.items() if n)
    return Check(
        "pii_at_rest",
        title,
        "pass",
        f"no PII detected in the newest stored rows ({counted})",
        evidence,
    )


def _artifact(store: Store, model_id: int, model: str) -> Check:
    title = "Artifact signed and scanned"
    row = cq.newest_version(store, model_id)
    if row is None:
        return Check("artifact", title, "unknown", "no version of the model is registered")
    version = row["version"]
    evidence = {"version": version, "digest": row["artifact_digest"]}
    if row["signature"] is None or row["artifact_digest"] is None:
        return Check(
            "artifact", title, "fail", f"version {version} has no signed artifact", evidence
        )
    refused = cq.last_refusal(store, model, version)
    if refused is not None:
        evidence["refused"] = refused
        return Check(
            "artifact",
            title,
            "fail",
            f"loading version {version} was refused (signature, digest or pickle scan)",
            evidence,
        )
    return Check(
        "artifact", title, "pass", f"version {version} is signed; no load was refused", evidence
    )


def _pii_coverage(store: Store, model_id: int, schema: ModelSchema) -> Check:
    title = "PII redaction covers the text features"
    text = [f.name for f in schema.features if f.kind is FeatureKind.TEXT]
    policies = {p.field: p.action for p in q.get_policies(store, model_id)}
    evidence = {"text_features": text, "policies": policies}
    if not text:
        return Check("pii_policy", title, "pass", "the schema has no text features", evidence)
    uncovered = [f for f in text if f not in policies and "*" not in policies]
    if uncovered:
        return Check("pii_policy", title, "fail", f"no redaction policy for {uncovered}", evidence)
    return Check("pii_policy", title, "pass", "every text feature is redacted at ingest", evidence)


def _retention(store: Store, model_id: int, now: float, interval_s: float) -> list[Check]:
    policies = q.list_retention(store, model_id)
    if not policies:
        return [
            Check(
                "retention_configured",
                "Retention configured",
                "fail",
                "no retention policy: raw events are kept forever",
            ),
            Check("retention_enforced", "Retention enforced", "unknown", "nothing to enforce"),
        ]
    policy = policies[0]
    evidence = policy.to_dict()
    configured = Check(
        "retention_configured",
        "Retention configured",
        "pass",
        f"raw events are kept {policy.days} days",
        evidence,
    )
    limit = max(2 * interval_s, 86_400.0)
    if policy.last_run_at is None or now - policy.last_run_at > limit:
        return [
            configured,
            Check(
                "retention_enforced",
                "Retention enforced",
                "fail",
                f"the retention job has not run in the last {limit:.0f} s",
                evidence,
            ),
        ]
    cutoff = now - policy.days * 86_400.0 - limit  # the job may not have run since
    expired = cq.events_before(store, model_id, cutoff)
    evidence["expired_events"] = expired
    if expired:
        return [
            configured,
            Check(
                "retention_enforced",
                "Retention enforced",
                "fail",
                f"{expired} events older than {policy.days} days are still stored",
                evidence,
            ),
        ]
    return [
        configured,
        Check(
            "retention_enforced",
            "Retention enforced",
            "pass",
            f"last run {now - policy.last_run_at:.0f} s ago",
            evidence,
        ),
    ]


def _erasure(store: Store) -> Check:
    title = "Erasure requests handled"
    receipts = q.list_receipts(store, limit=1)
    if not receipts:
        return Check("erasure", title, "pass", "no erasure was requested")
    last = receipts[0]
    return Check(
        "erasure",
        title,
        "pass",
        "the last erasure request completed",
        {"receipt": last["id"], "completed_at": last["completed_at"], "deleted": last["deleted"]},
    )


def _keys(store: Store, now: float, auth_required: bool | None) -> Check:
    title = "API keys scoped and in use"
    active = [k for k in store.list_api_keys() if k.revoked_at is None]
    if auth_required is False:
        return Check(
            "keys",
            title,
            "fail",
            "the server does not require API keys: anyone "
            "who reaches it may read and change everything",
            {"active": len(active), "auth_required": False},
        )
    if not active:
        return Check(
            "keys",
            title,
            "fail" if auth_required else "unknown",
            "no active API key: the server can only be running without authentication"
            if auth_required is None
            else "no active API key exists although keys are required",
            {"active": 0, "auth_required": auth_required},
        )
    by_scope: dict[str, int] = {}
    for k in active:
        for s in k.scopes:
            by_scope[s] = by_scope.get(s, 0) + 1
    stale = [
        k.id for k in active if now - (k.last_used_at or k.created_at) > STALE_KEY_DAYS * 86_400
    ]
    evidence = {"active": len(active), "by_scope": by_scope, "stale": stale}
    if stale:
        return Check(
            "keys",
            title,
            "fail",
            f"{len(stale)} active keys unused for {STALE_KEY_DAYS} days; revoke them",
            evidence,
        )
    return Check("keys", title, "pass", f"{len(active)} active keys, none stale", evidence)


def _audit_chain(store: Store) -> Check:
    title = "Audit log intact"
    report = verify_log(store)
    if report.ok:
        return Check(
            "audit_log",
            title,
            "pass",
            f"{report.entries} entries, chain verified",
            report.to_dict(),
        )
    return Check(
        "audit_log",
        title,
        "fail",
        f"entry {report.first_bad_id}: {report.reason}",
        report.to_dict(),
    )


def _find(metrics: Any, key: str) -> float | None:
    if isinstance(metrics, dict):
        value = metrics.get(key)
        if isinstance(value, dict) and isinstance(value.get("value"), int | float):
            return float(value["value"])
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        for v in metrics.values():
            found = _find(v, key)
            if found is not None:
                return found
    return None


def _evaluation(store: Store, model_id: int) -> list[Check]:
    run = cq.last_evaluation(store, model_id)
    if run is None:
        return [
            Check("evaluation", "Last evaluation", "unknown", "no evaluation has run"),
            Check("fairness", "Fairness", "unknown", "no evaluation has run"),
        ]
    evidence = {"run": run["id"], "version": run["version"], "finished_at": run["finished_at"]}
    evaluation = Check(
        "evaluation",
        "Last evaluation",
        "pass" if run["status"] == "succeeded" else "fail",
        f"run {run['id']} {run['status']}" + (f": {run['error']}" if run["error"] else ""),
        evidence,
    )
    di = _find(run["metrics"], "disparate_impact_ratio")
    dp = _find(run["metrics"], "demographic_parity_difference")
    if di is None and dp is None:
        return [
            evaluation,
            Check(
                "fairness",
                "Fairness",
                "unknown",
                "the last evaluation recorded no fairness metrics",
            ),
        ]
    bad = []
    if di is not None and di < DISPARATE_IMPACT_MIN:
        bad.append(f"disparate impact {di:.3f} < {DISPARATE_IMPACT_MIN}")
    if dp is not None and dp > PARITY_DIFFERENCE_MAX:
        bad.append(f"parity difference {dp:.3f} > {PARITY_DIFFERENCE_MAX}")
    fair = Check(
        "fairness",
        "Fairness",
        "fail" if bad else "pass",
        "; ".join(bad) or "within thresholds",
        {"disparate_impact_ratio": di, "demographic_parity_difference": dp},
    )
    return [evaluation, fair]


def _alerts(store: Store, model: str) -> Check:
    mine = [
        r
        for r in cq.open_alerts(store)
        if not isinstance(r["labels"], dict) or r["labels"].get("model") in (None, model)
    ]
    evidence = {
        "open": [{"id": r["id"], "rule": r["rule"], "severity": r["severity"]} for r in mine]
    }
    if mine:
        return Check("alerts", "No open alerts", "fail", f"{len(mine)} alerts open", evidence)
    return Check("alerts", "No open alerts", "pass", "no alert is open", evidence)


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (values escaped)."""
    from datetime import UTC, datetime

    import orjson
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("vigil.audit", "templates"), autoescape=select_autoescape(["html"])
    )
    checks = [
        {
            **c,
            "evidence_json": orjson.dumps(
                c["evidence"], option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
            ).decode(),
        }
        for c in report["checks"]
    ]
    generated = datetime.fromtimestamp(report["generated_at"], UTC).strftime("%Y-%m-%d %H:%M:%S")
    return env.get_template("compliance.html").render(
        report={**report, "checks": checks}, generated=generated
    )
