"""Reads of the compliance report (:mod:`vigil.audit.compliance`): what other parts of vigil
recorded about a model — its newest registered version, refused loads, expired events,
the last evaluation run and the open alerts."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from vigil.store import tables as t
from vigil.store.alerts.tables import alerts
from vigil.store.quality.tables import evaluation_runs
from vigil.store.registry.tables import registry_versions
from vigil.store.store import Store


def newest_version(store: Store, model_id: int) -> dict[str, Any] | None:
    """The model's newest registry version: ``version``, ``signature``, ``artifact_digest``."""
    rv = registry_versions
    with store.read() as conn:
        row = conn.execute(
            sa.select(rv.c.version, rv.c.signature, rv.c.artifact_digest)
            .where(rv.c.model_id == model_id)
            .order_by(rv.c.created_at.desc())
            .limit(1)
        ).first()
    return None if row is None else dict(row._mapping)


def last_refusal(store: Store, model: str, version: str) -> Any:
    """The details of the newest refused load of ``model:version`` (None: never refused)."""
    a = t.audit_log
    with store.read() as conn:
        row = conn.execute(
            sa.select(a.c.details)
            .where(a.c.action == "registry.refused", a.c.target == f"{model}:{version}")
            .order_by(a.c.id.desc())
            .limit(1)
        ).first()
    return None if row is None else row.details


def events_before(store: Store, model_id: int, cutoff: float) -> int:
    """How many of the model's predictions are older than ``cutoff`` (unix seconds)."""
    p = t.predictions
    with store.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(p)
                .where(p.c.model_id == model_id, p.c.ts < cutoff)
            ).scalar_one()
        )


def last_evaluation(store: Store, model_id: int) -> dict[str, Any] | None:
    """The model's newest finished-or-not evaluation run: ``id``, ``version``, ``status``,
    ``finished_at``, ``metrics``, ``error``."""
    ev = evaluation_runs
    with store.read() as conn:
        row = conn.execute(
            sa.select(
                ev.c.id, ev.c.version, ev.c.status, ev.c.finished_at, ev.c.metrics, ev.c.error
            )
            .where(ev.c.model_id == model_id)
            .order_by(ev.c.finished_at.desc())
            .limit(1)
        ).first()
    return None if row is None else dict(row._mapping)


def open_alerts(store: Store) -> list[dict[str, Any]]:
    """Every active alert: ``id``, ``rule``, ``labels``, ``severity``."""
    al = alerts
    with store.read() as conn:
        rows = conn.execute(
            sa.select(al.c.id, al.c.rule, al.c.labels, al.c.severity).where(al.c.active.is_(True))
        ).all()
    return [dict(r._mapping) for r in rows]


def stored_at_rest(store: Store, model_id: int, sample: int) -> dict[str, list[Any]]:
    """Where personal data could sit, per place, over the ``sample`` newest rows of each:
    predictions' inputs and outputs (JSON text) and error messages, label values (JSON
    text), feedback comments and the rollups' serialised profiles (bytes or None)."""
    p, lab, fb, r = t.predictions, t.labels, t.feedback, t.rollups
    mine = sa.select(p.c.id).where(p.c.model_id == model_id)
    out: dict[str, list[Any]] = {}
    with store.read() as conn:
        rows = conn.execute(
            sa.select(
                sa.cast(p.c.inputs, sa.Text).label("inputs"),
                sa.cast(p.c.outputs, sa.Text).label("outputs"),
                p.c.error,
            )
            .where(p.c.model_id == model_id)
            .order_by(p.c.ts.desc())
            .limit(sample)
        ).all()
        out["predictions"] = [(row.inputs, row.outputs, row.error) for row in rows]
        out["labels.actual"] = list(
            conn.execute(
                sa.select(sa.cast(lab.c.actual, sa.Text))
                .where(lab.c.model_id == model_id, lab.c.prediction_id.in_(mine))
                .limit(sample)
            )
            .scalars()
            .all()
        )
        out["feedback.comment"] = list(
            conn.execute(sa.select(fb.c.comment).where(fb.c.model_id == model_id).limit(sample))
            .scalars()
            .all()
        )
        out["rollups.profile"] = list(
            conn.execute(
                sa.select(r.c.profile)
                .where(r.c.model_id == model_id)
                .order_by(r.c.minute.desc())
                .limit(sample)
            )
            .scalars()
            .all()
        )
    return out
