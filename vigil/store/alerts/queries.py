"""Queries of the alerting engine: rules, receivers, alerts and history, silences, leases.

Everything here takes a :class:`~vigil.store.Store` and answers plain dicts.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import sqlalchemy as sa

from vigil.store import tables as t
from vigil.store.alerts import tables as at
from vigil.store.engine import inserted_id
from vigil.store.store import Store

ACTIVE_STATES = ("pending", "firing")
CATEGORIES = ("notifier", "action")


class AlertStore:
    """The alerting engine's reads and writes on one :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- rules -----------------------------------------------------------------------
    def list_rules(self) -> list[dict[str, Any]]:
        """Every rule's stored spec, by name."""
        with self.store.read() as conn:
            rows = (
                conn.execute(sa.select(at.alert_rules.c.spec).order_by(at.alert_rules.c.name))
                .scalars()
                .all()
            )
        return [dict(r) for r in rows]

    def get_rule(self, name: str) -> dict[str, Any] | None:
        with self.store.read() as conn:
            spec = conn.execute(
                sa.select(at.alert_rules.c.spec).where(at.alert_rules.c.name == name)
            ).scalar()
        return dict(spec) if spec is not None else None

    def put_rule(self, spec: dict[str, Any]) -> str:
        """Create or replace a rule; return ``created``, ``updated`` or ``unchanged``."""
        r = at.alert_rules
        now = time.time()
        with self.store.write() as conn:
            old = conn.execute(sa.select(r.c.spec).where(r.c.name == spec["name"])).scalar()
            if old is None:
                conn.execute(
                    r.insert().values(name=spec["name"], spec=spec, created_at=now, updated_at=now)
                )
                return "created"
            if dict(old) == spec:
                return "unchanged"
            conn.execute(
                r.update().where(r.c.name == spec["name"]).values(spec=spec, updated_at=now)
            )
            return "updated"

    def delete_rule(self, name: str) -> bool:
        with self.store.write() as conn:
            return (
                conn.execute(at.alert_rules.delete().where(at.alert_rules.c.name == name)).rowcount
                > 0
            )

    # -- notifiers and actions -------------------------------------------------------
    def list_receivers(self, category: str) -> list[dict[str, Any]]:
        """Notifiers or actions: ``{name, type, config}`` by name."""
        rc = at.alert_receivers
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(rc.c.name, rc.c.type, rc.c.config)
                .where(rc.c.category == category)
                .order_by(rc.c.name)
            ).all()
        return [{"name": n, "type": ty, "config": dict(c)} for n, ty, c in rows]

    def put_receiver(self, category: str, name: str, type_: str, config: dict[str, Any]) -> str:
        """Create or replace one; return ``created``, ``updated`` or ``unchanged``."""
        rc = at.alert_receivers
        key = (rc.c.category == category) & (rc.c.name == name)
        now = time.time()
        with self.store.write() as conn:
            old = conn.execute(sa.select(rc.c.type, rc.c.config).where(key)).first()
            if old is None:
                conn.execute(
                    rc.insert().values(
                        category=category,
                        name=name,
                        type=type_,
                        config=config,
                        created_at=now,
                        updated_at=now,
                    )
                )
                return "created"
            if old.type == type_ and dict(old.config) == config:
                return "unchanged"
            conn.execute(rc.update().where(key).values(type=type_, config=config, updated_at=now))
            return "updated"

    def delete_receiver(self, category: str, name: str) -> bool:
        rc = at.alert_receivers
        with self.store.write() as conn:
            return (
                conn.execute(
                    rc.delete().where(rc.c.category == category, rc.c.name == name)
                ).rowcount
                > 0
            )

    # -- alerts ----------------------------------------------------------------------
    def active_alerts(self) -> dict[str, dict[str, Any]]:
        """Pending and firing alerts by fingerprint."""
        with self.store.read() as conn:
            rows = (
                conn.execute(sa.select(at.alerts).where(at.alerts.c.active.is_(True)))
                .mappings()
                .all()
            )
        return {r["fingerprint"]: dict(r) for r in rows}

    def open_alert(self, values: dict[str, Any], event: dict[str, Any]) -> int:
        """Insert a new active alert and its first history event; return its id."""
        with self.store.write() as conn:
            alert_id = inserted_id(conn.execute(at.alerts.insert().values(active=True, **values)))
            conn.execute(at.alert_events.insert().values(alert_id=alert_id, **event))
        return int(alert_id)

    def update_alert(
        self, alert_id: int, values: dict[str, Any], event: dict[str, Any] | None = None
    ) -> None:
        """Change an alert (and append a history event when given)."""
        if "state" in values:
            values = {**values, "active": values["state"] in ACTIVE_STATES}
        with self.store.write() as conn:
            conn.execute(at.alerts.update().where(at.alerts.c.id == alert_id).values(**values))
            if event is not None:
                conn.execute(at.alert_events.insert().values(alert_id=alert_id, **event))

    def add_event(
        self,
        alert_id: int,
        kind: str,
        details: dict[str, Any] | None = None,
        ts: float | None = None,
    ) -> None:
        with self.store.write() as conn:
            conn.execute(
                at.alert_events.insert().values(
                    alert_id=alert_id,
                    ts=time.time() if ts is None else ts,
                    kind=kind,
                    details=details,
                )
            )

    # -- the outbox: what an alert's change still owes its notifiers and actions ------
    def queue(
        self,
        alert_id: int,
        entries: list[dict[str, Any]],
        events: list[dict[str, Any]] | None = None,
        now: float | None = None,
    ) -> list[int]:
        """In one transaction: add ``entries`` (``kind``, ``target``, ``payload``) to the
        outbox and ``events`` (``kind``, ``details``) to the alert's history, and clear its
        ``dispatch_pending``; return the entries' ids in order."""
        now = time.time() if now is None else now
        ids = []
        with self.store.write() as conn:
            for entry in entries:
                ids.append(
                    int(
                        inserted_id(
                            conn.execute(
                                at.notification_outbox.insert().values(
                                    alert_id=alert_id, created_at=now, **entry
                                )
                            )
                        )
                    )
                )
            for event in events or []:
                conn.execute(at.alert_events.insert().values(alert_id=alert_id, ts=now, **event))
            conn.execute(
                at.alerts.update().where(at.alerts.c.id == alert_id).values(dispatch_pending=None)
            )
        return ids

    def finish(self, outbox_ids: list[int], events: list[tuple[int, str, dict[str, Any]]]) -> int:
        """In one transaction: mark the outbox entries delivered (or given up on) and add
        the history ``events`` (alert id, kind, details); return how many entries were
        still open (0: another replica finished them first, and no event is added)."""
        o = at.notification_outbox
        now = time.time()
        with self.store.write() as conn:
            done = conn.execute(
                o.update().where(o.c.id.in_(outbox_ids), o.c.done_at.is_(None)).values(done_at=now)
            ).rowcount
            if done or not outbox_ids:
                for alert_id, kind, details in events:
                    conn.execute(
                        at.alert_events.insert().values(
                            alert_id=alert_id, ts=now, kind=kind, details=details
                        )
                    )
        return int(done)

    def prune_outbox(self, before: float) -> int:
        """Delete outbox entries finished before ``before``; return how many."""
        o = at.notification_outbox
        with self.store.write() as conn:
            return int(conn.execute(o.delete().where(o.c.done_at < before)).rowcount)

    def open_outbox(self) -> list[dict[str, Any]]:
        """Outbox entries not delivered yet, oldest first."""
        o = at.notification_outbox
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(o).where(o.c.done_at.is_(None)).order_by(o.c.id)
            ).mappings()
            return [dict(r) for r in rows]

    def undispatched(self) -> list[dict[str, Any]]:
        """Alerts whose last change was stored but whose notifications were never queued
        (the process stopped in between)."""
        a = at.alerts
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(a).where(a.c.dispatch_pending.is_not(None)).order_by(a.c.id)
            ).mappings()
            return [dict(r) for r in rows]

    def list_alerts(
        self,
        *,
        state: str | None = None,
        rule: str | None = None,
        model: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Alerts newest first; ``state`` may be ``active`` for pending and firing."""
        a = at.alerts
        query = sa.select(a).order_by(a.c.id.desc()).limit(limit)
        if state == "active":
            query = query.where(a.c.active.is_(True))
        elif state is not None:
            query = query.where(a.c.state == state)
        if rule is not None:
            query = query.where(a.c.rule == rule)
        with self.store.read() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        if model is not None:
            rows = [r for r in rows if r["labels"].get("model") == model]
        return rows

    def get_alert(self, alert_id: int) -> dict[str, Any] | None:
        """One alert with its history (oldest event first)."""
        e = at.alert_events
        with self.store.read() as conn:
            row = (
                conn.execute(sa.select(at.alerts).where(at.alerts.c.id == alert_id))
                .mappings()
                .first()
            )
            if row is None:
                return None
            events = (
                conn.execute(
                    sa.select(e.c.ts, e.c.kind, e.c.details)
                    .where(e.c.alert_id == alert_id)
                    .order_by(e.c.id)
                )
                .mappings()
                .all()
            )
        return {**dict(row), "history": [dict(ev) for ev in events]}

    # -- silences --------------------------------------------------------------------
    def create_silence(
        self,
        matchers: dict[str, str],
        starts_at: float,
        ends_at: float,
        created_by: str,
        comment: str | None = None,
    ) -> dict[str, Any]:
        values = {
            "matchers": matchers,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "created_by": created_by,
            "comment": comment,
            "created_at": time.time(),
        }
        with self.store.write() as conn:
            sid = inserted_id(conn.execute(at.silences.insert().values(**values)))
        return {"id": int(sid), **values}

    def list_silences(self, active_at: float | None = None) -> list[dict[str, Any]]:
        """Silences, newest first; only those in force at ``active_at`` when given."""
        s = at.silences
        query = sa.select(s).order_by(s.c.id.desc())
        if active_at is not None:
            query = query.where(s.c.starts_at <= active_at, s.c.ends_at > active_at)
        with self.store.read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def expire_silence(self, silence_id: int, now: float) -> bool:
        s = at.silences
        with self.store.write() as conn:
            return (
                conn.execute(
                    s.update().where(s.c.id == silence_id, s.c.ends_at > now).values(ends_at=now)
                ).rowcount
                > 0
            )

    # -- data for the retrain action -------------------------------------------------
    def window_events(
        self, model_id: int, start: float, end: float, version: str | None = None
    ) -> list[dict[str, Any]]:
        """Predictions in ``[start, end)`` with their label and feedback (mean score, count,
        last comment), oldest first."""
        p, lab, fb = t.predictions, t.labels, t.feedback
        agg = (
            sa.select(
                fb.c.prediction_id,
                sa.func.avg(fb.c.score).label("feedback_score"),
                sa.func.count().label("feedback_count"),
                sa.func.max(fb.c.comment).label("feedback_comment"),
            )
            .where(fb.c.model_id == model_id)
            .group_by(fb.c.prediction_id)
            .subquery()
        )
        # JSON read back as text: SQLite's NUMERIC affinity turns a JSON "1" into 1
        json_cols = {
            "inputs": p.c.inputs,
            "outputs": p.c.outputs,
            "proba": p.c.proba,
            "label": lab.c.actual,
        }
        # ids are scoped per model: labels join on (model, id); feedback is this model's
        query = (
            sa.select(
                p.c.id,
                p.c.version,
                p.c.ts,
                p.c.latency_s,
                p.c.error,
                p.c.error_type,
                *(sa.cast(c, sa.Text).label(k) for k, c in json_cols.items()),
                agg.c.feedback_score,
                agg.c.feedback_count,
                agg.c.feedback_comment,
            )
            .select_from(
                p.outerjoin(
                    lab, (lab.c.prediction_id == p.c.id) & (lab.c.model_id == p.c.model_id)
                ).outerjoin(agg, agg.c.prediction_id == p.c.id)
            )
            .where(p.c.model_id == model_id, p.c.ts >= start, p.c.ts < end)
            .order_by(p.c.ts, p.c.id)
        )
        if version is not None:
            query = query.where(p.c.version == version)
        with self.store.read() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for row in rows:
            for key in json_cols:
                if row[key] is not None:
                    row[key] = orjson.loads(row[key])
        return rows
