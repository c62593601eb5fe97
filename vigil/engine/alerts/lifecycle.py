"""Rule evaluation and the alert lifecycle: pending → firing → resolved.

:meth:`AlertEngine.evaluate` reads every enabled rule, computes its metric from the
rollups for each model it targets, and moves that (rule, labels) alert through its states
as Prometheus does: a condition that holds opens a *pending* alert, which *fires* once it
has held for the rule's ``for`` duration (at once when ``for`` is 0); a condition that no
longer holds *resolves* a firing alert and drops a pending one (state *inactive*). One
alert is active per rule and label set (its fingerprint), so re-evaluating never
duplicates. Firing and resolving are handed to a dispatcher (notifiers and actions run in
the background); silenced alerts change state but notify nobody; acknowledged ones are
not re-notified by ``repeat``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from vigil.engine.alerts.routing import alert_labels, inhibited_by
from vigil.engine.alerts.rules import RESERVED_PREFIX, Rule
from vigil.engine.metric_sources import get_metric
from vigil.errors import InvalidParameterError
from vigil.notify.base import Notification
from vigil.store import ModelRecord, Store
from vigil.store.alerts.queries import AlertStore

log = logging.getLogger("vigil.alerts")


class Dispatch(Protocol):
    """Where the engine hands notifications (see :class:`vigil.engine.alerts.dispatch`):
    it plans the outbox entries of a change, the engine stores them, then the dispatcher
    delivers them; ``recover`` re-sends entries that a stopped process left open."""

    def plan(
        self, rule: Rule, notification: Notification, *, act: bool
    ) -> list[dict[str, Any]]: ...

    def start(self, queued: list[tuple[int, dict[str, Any]]]) -> None: ...

    def recover(self) -> int: ...


def fingerprint(labels: dict[str, str]) -> str:
    """A stable id of a label set (32 hex digits)."""
    return hashlib.sha256(orjson.dumps(labels, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def silence_matches(matchers: dict[str, Any], labels: dict[str, str]) -> bool:
    """All matchers equal the alert's labels (``alertname`` is the rule)."""
    return all(labels.get(k) == v for k, v in matchers.items())


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One rule on one model: the value seen and whether the condition holds."""

    rule: Rule
    labels: dict[str, str]
    value: float | None
    holds: bool | None  # None: too little data and on_no_data = keep
    details: dict[str, Any] | None = None  # forecast/anomaly evidence for the history


class AlertEngine:
    """Evaluates rules against a store and keeps the alerts' states there."""

    def __init__(
        self,
        store: Store,
        dispatch: Dispatch | None = None,
        *,
        metrics: Any = None,
        clock: Callable[[], float] = time.time,
        builtin_rules: bool = False,
    ) -> None:
        self.store = store
        self.builtin_rules = builtin_rules  # vigil's default rules (VIGIL_BUILTIN_RULES)
        self.alerts = AlertStore(store)
        self.dispatch = dispatch
        self.metrics = metrics
        self.clock = clock
        # one round at a time in this process (the background loop and POST
        # /rules/evaluate): two rounds reading "no active alert" would both open one
        self._round = threading.Lock()
        self._insight_cache: Any = None  # forecast/anomaly verdicts (insight_rules)

    # -- evaluation --------------------------------------------------------------------
    def rules(self, failed: set[str] | None = None) -> list[Rule]:
        """Enabled rules; a stored rule that no longer validates is logged, skipped and its
        name added to ``failed``. With ``builtin_rules``, vigil's default rules come too,
        unless a stored rule of the same name replaces (or with ``enabled = false``
        switches off) one."""
        out = []
        stored = self.alerts.list_rules()
        if self.builtin_rules:
            names = {spec.get("name") for spec in stored}
            stored = stored + [spec for spec in BUILTIN_RULES if spec["name"] not in names]
        for spec in stored:
            try:
                rule = Rule.from_dict(_spec_input(spec))
            except InvalidParameterError as exc:
                log.error("rule %s is invalid and skipped: %s", spec.get("name"), exc)
                if failed is not None:
                    failed.add(str(spec.get("name")))
                if self.metrics is not None:
                    self.metrics.evaluation_failed(str(spec.get("name")))
                continue
            if rule.enabled:
                out.append(rule)
        return out

    def evaluate_rule(
        self, rule: Rule, now: float, models: list[ModelRecord] | None = None
    ) -> list[Evaluation]:
        """Evaluate one rule on each model it targets (without changing any alert)."""
        if rule.model == "*":
            targets = models if models is not None else self.store.list_models()
        else:
            model = self.store.get_model(rule.model)
            targets = [model] if model is not None else []
        out = []
        for model in targets:
            labels = {
                "alertname": rule.name,
                "model": model.name,
                "metric": rule.metric,
                "severity": rule.severity,
                **rule.labels,
            }
            version = rule.version
            if rule.version:
                labels["version"] = rule.version
            if rule.alias:
                labels["alias"] = rule.alias
                version = self._resolve_alias(model, rule.alias)
            details = None
            if rule.kind in ("forecast", "anomaly"):
                from vigil.engine.insight.rules import InsightCache, evaluate_insight

                if self._insight_cache is None:
                    self._insight_cache = InsightCache()
                value, verdict, details = (
                    (None, None, None)
                    if rule.alias and version is None
                    else evaluate_insight(
                        self.store, rule, model, version, now, self._insight_cache
                    )
                )
            else:
                value = (
                    None
                    if rule.alias and version is None
                    else self._value(rule, model, now, version)
                )
                verdict = None if value is None else rule.holds(value)
            if verdict is None:
                holds = {"keep": None, "ok": False, "alert": True}[rule.on_no_data]
            else:
                holds = verdict
            out.append(Evaluation(rule, labels, value, holds, details))
        return out

    def _resolve_alias(self, model: ModelRecord, alias: str) -> str | None:
        """The version ``alias`` points at now (None when unknown or no registry)."""
        try:
            from vigil.store.registry.queries import get_alias
        except ImportError:
            return None
        row = get_alias(self.store, model.id, alias)
        return None if row is None else row["resolved_version"]

    def _value(
        self, rule: Rule, model: ModelRecord, now: float, version: str | None
    ) -> float | None:
        metric = get_metric(rule.metric)
        start, end = now - rule.window_s, now
        if rule.min_count and rule.kind != "no_data":
            count = get_metric("count").compute(self.store, model, version, start, end)
            if (count or 0) < rule.min_count:
                return None
        value = metric.compute(self.store, model, version, start, end)
        if rule.kind != "change" or value is None:
            return value
        offset = rule.baseline_s or 0.0
        base = metric.compute(self.store, model, version, start - offset, end - offset)
        if base is None:
            return None
        if rule.change == "difference":
            return value - base
        if base == 0:
            return 1.0 if value == 0 else float("inf")
        return value / base

    def evaluate(self, now: float | None = None) -> list[Notification]:
        """Evaluate every enabled rule once, move alerts, dispatch; return what was sent."""
        with self._round:
            return self._evaluate(now)

    def _evaluate(self, now: float | None) -> list[Notification]:
        now = self.clock() if now is None else now
        started = time.perf_counter()
        if self.dispatch is not None:
            self._recover(now)
        active = self.alerts.active_alerts()
        silences = self.alerts.list_silences(active_at=now)
        models = self.store.list_models()
        sent: list[Notification] = []
        seen: set[str] = set()
        failed: set[str] = set()  # their alerts stay as they are this round
        for rule in self.rules(failed):
            try:
                evaluations = self.evaluate_rule(rule, now, models)
            except Exception:
                log.exception("rule %s failed to evaluate", rule.name)
                failed.add(rule.name)
                if self.metrics is not None:
                    self.metrics.evaluation_failed(rule.name)
                continue
            for ev in evaluations:
                fp = fingerprint(ev.labels)
                seen.add(fp)
                if self.metrics is not None:
                    self.metrics.rule_value(ev.rule, ev.labels, ev.value)
                note = self._step(ev, fp, active.get(fp), now, silences)
                if note is not None:
                    sent.append(note)
        # alerts whose rule was deleted or no longer targets their model (alerts of
        # automatic changes, e.g. registry:rollback, are resolved by their own loop)
        for fp, row in active.items():
            if (
                fp not in seen
                and row["rule"] not in failed
                and not row["rule"].startswith(RESERVED_PREFIX)
            ):
                self.alerts.update_alert(
                    row["id"],
                    {
                        "state": "inactive" if row["state"] == "pending" else "resolved",
                        "resolved_at": now,
                        "updated_at": now,
                    },
                    {
                        "ts": now,
                        "kind": "orphaned",
                        "details": {"reason": "rule removed or changed"},
                    },
                )
        if self.metrics is not None:
            self.metrics.evaluated(
                time.perf_counter() - started, self.alerts.active_alerts().values()
            )
        return sent

    # -- the state machine -------------------------------------------------------------
    def _step(
        self,
        ev: Evaluation,
        fp: str,
        row: dict[str, Any] | None,
        now: float,
        silences: list[dict[str, Any]],
    ) -> Notification | None:
        """One evaluation's move of its alert: unknown (no data) keeps it, a condition
        that no longer holds ends it, one that holds opens it (pending), fires it once
        pending ``for`` long, or re-notifies a firing one every ``repeat``."""
        if ev.holds is None:
            if row is not None:
                self.alerts.update_alert(row["id"], {"updated_at": now})
            return None
        if not ev.holds:
            return None if row is None else self._clear(ev, row, now, silences)
        if row is None:
            row = self._open(ev, fp, now)
        if row["state"] == "pending":
            if now - row["started_at"] + 1e-9 < ev.rule.for_s:
                self.alerts.update_alert(row["id"], {"value": ev.value, "updated_at": now})
                return None
            return self._fire(ev, row, now, silences)
        return self._repeat(ev, row, now, silences)

    def _clear(
        self, ev: Evaluation, row: dict[str, Any], now: float, silences: list[dict[str, Any]]
    ) -> Notification | None:
        """The condition no longer holds: a pending alert goes inactive quietly, a firing
        one resolves and says so."""
        if row["state"] == "pending":
            self.alerts.update_alert(
                row["id"],
                {"state": "inactive", "value": ev.value, "updated_at": now},
                {"ts": now, "kind": "inactive", "details": {"value": ev.value}},
            )
            return None
        self.alerts.update_alert(
            row["id"],
            {
                "state": "resolved",
                "value": ev.value,
                "resolved_at": now,
                "updated_at": now,
                **self._pending("resolved"),
            },
            {"ts": now, "kind": "resolved", "details": {"value": ev.value}},
        )
        row = {**row, "state": "resolved", "value": ev.value, "resolved_at": now}
        return self._send(ev.rule, row, "resolved", silences, now)

    def _open(self, ev: Evaluation, fp: str, now: float) -> dict[str, Any]:
        """A new pending alert for a condition that started to hold; its row."""
        rule = ev.rule
        values = {
            "fingerprint": fp,
            "rule": rule.name,
            "labels": ev.labels,
            "severity": rule.severity,
            "state": "pending",
            "value": ev.value,
            "summary": rule.summary or rule.describe(),
            "started_at": now,
            "updated_at": now,
        }
        alert_id = self.alerts.open_alert(
            values, {"ts": now, "kind": "pending", "details": _details(ev)}
        )
        return {
            **values,
            "id": alert_id,
            "fired_at": None,
            "resolved_at": None,
            "notified_at": None,
            "acked_at": None,
            "ack_until": None,
        }

    def _fire(
        self, ev: Evaluation, row: dict[str, Any], now: float, silences: list[dict[str, Any]]
    ) -> Notification | None:
        """Pending long enough: fire (with the root-cause ranking), notify, run actions."""
        rule = ev.rule
        ranking = self._explain(ev, now)
        self.alerts.update_alert(
            row["id"],
            {
                "state": "firing",
                "value": ev.value,
                "fired_at": now,
                "updated_at": now,
                "notified_at": now,
                **self._pending("firing"),
            },
            {"ts": now, "kind": "firing", "details": _details(ev, ranking)},
        )
        row = {
            **row,
            "state": "firing",
            "value": ev.value,
            "fired_at": now,
            "annotations": _annotations(ev, ranking),
        }
        return self._send(rule, row, "firing", silences, now, act=True)

    def _repeat(
        self, ev: Evaluation, row: dict[str, Any], now: float, silences: list[dict[str, Any]]
    ) -> Notification | None:
        """Firing and still bad: re-notify after ``repeat`` unless acknowledged."""
        rule = ev.rule
        acked = row["acked_at"] is not None and (row["ack_until"] is None or row["ack_until"] > now)
        due = rule.repeat_s and now - (row["notified_at"] or row["fired_at"]) >= rule.repeat_s
        self.alerts.update_alert(
            row["id"],
            {
                "value": ev.value,
                "updated_at": now,
                **({"notified_at": now, **self._pending("repeat")} if due and not acked else {}),
            },
        )
        if due and not acked:
            return self._send(rule, {**row, "value": ev.value}, "firing", silences, now)
        return None

    def _pending(self, change: str) -> dict[str, Any]:
        """The ``dispatch_pending`` mark stored with a change that notifies (``firing``,
        ``repeat`` or ``resolved``), when a dispatcher will clear it."""
        return {} if self.dispatch is None else {"dispatch_pending": change}

    def _recover(self, now: float) -> None:
        """Finish what a stopped leader left: changes stored without their notifications
        queued are planned again (with today's silences and routes), then the outbox
        entries nobody delivers are re-sent."""
        assert self.dispatch is not None
        left = self.alerts.undispatched()
        if left:  # rare (a leader died mid-round): only then read rules and silences
            rules = {rule.name: rule for rule in self.rules()}
            silences = self.alerts.list_silences(active_at=now)
        for row in left:
            change = row["dispatch_pending"]
            rule = rules.get(row["rule"])
            if rule is None:
                self.alerts.queue(
                    row["id"],
                    [],
                    [{"kind": "dispatch_dropped", "details": {"reason": "rule removed"}}],
                    now,
                )
                continue
            log.warning("notifying %s of alert %s (left by a stopped leader)", change, row["id"])
            status = "resolved" if change == "resolved" else "firing"
            self._send(rule, row, status, silences, now, act=change == "firing")
        self.dispatch.recover()

    def _send(
        self,
        rule: Rule,
        row: dict[str, Any],
        status: str,
        silences: list[dict[str, Any]],
        now: float,
        act: bool = False,
    ) -> Notification | None:
        """Notify ``status`` of the alert in ``row`` (and with ``act`` run the rule's
        actions) unless a silence or an inhibition holds it back; that decision and the
        outbox entries are stored in one transaction, which clears the change's mark."""
        labels = row["labels"]
        silence = next((s for s in silences if silence_matches(s["matchers"], labels)), None)
        if silence is not None:
            self._settle(
                row["id"], "silenced", {"silence_id": silence["id"], "status": status}, now
            )
            return None
        inhibition = self._inhibition(rule, row, status)
        if inhibition is not None:
            self._settle(row["id"], "inhibited", {"inhibit": inhibition, "status": status}, now)
            return None
        note = Notification(
            status=status,
            alert_id=row["id"],
            rule=rule.name,
            fingerprint=row["fingerprint"],
            labels=labels,
            severity=rule.severity,
            summary=row["summary"] or rule.describe(),
            value=row["value"],
            threshold=rule.threshold,
            started_at=row["fired_at"] or row["started_at"],
            ended_at=row.get("resolved_at") if status == "resolved" else None,
            annotations=dict(row.get("annotations") or {}),
        )
        if self.dispatch is not None:  # its notifiers, routes by labels, actions
            entries = self.dispatch.plan(rule, note, act=act)
            ids = self.alerts.queue(row["id"], entries, now=now)
            self.dispatch.start(list(zip(ids, entries, strict=True)))
        return note

    def _settle(self, alert_id: int, kind: str, details: dict[str, Any], now: float) -> None:
        """Record why a change notifies nobody (and clear its mark)."""
        event = {"kind": kind, "details": details}
        if self.dispatch is None:
            self.alerts.add_event(alert_id, kind, details, ts=now)
        else:
            self.alerts.queue(alert_id, [], [event], now)

    def _inhibition(self, rule: Rule, row: dict[str, Any], status: str) -> str | None:
        """The inhibition holding this notification back (a resolve is held back when the
        alert's firing notification was), or None."""
        inhibits = self.alerts.list_receivers("inhibit")
        if not inhibits:
            return None
        if status == "resolved":
            history = (self.alerts.get_alert(row["id"]) or {}).get("history", [])
            held = [e for e in history if e["kind"] == "inhibited"]
            sent = [e for e in history if e["kind"] == "notified"]
            return str(held[-1]["details"]["inhibit"]) if held and not sent else None
        labels = alert_labels(rule.name, rule.severity, {**rule.labels, **row["labels"]})
        firing = [
            alert_labels(a["rule"], a["severity"], a["labels"])
            for a in self.alerts.active_alerts().values()
            if a["state"] == "firing" and a["id"] != row["id"]
        ]
        return inhibited_by(inhibits, labels, firing)

    def _explain(self, ev: Evaluation, now: float) -> dict[str, Any] | None:
        """The root-cause ranking of a firing alert (None when it cannot be computed)."""
        from vigil.engine.insight.rules import explain_for_alert

        return explain_for_alert(self.store, ev.rule, ev.labels, now)


BUILTIN_RULES: tuple[dict[str, Any], ...] = (
    # records refused at ingest are traffic the model served but vigil does not see
    {
        "name": "rejected-records",
        "model": "*",
        "metric": "rejected_rate",
        "op": ">",
        "threshold": 0.0,
        "window": "5m",
        "severity": "warning",
        "summary": "records are being rejected at ingest (see GET /models/{m}/metrics "
        "rejected_by_reason, and /models/{m}/schema)",
    },
)


def _details(ev: Evaluation, explain: dict[str, Any] | None = None) -> dict[str, Any]:
    """A history event's details: the value, forecast/anomaly evidence, the ranking."""
    out: dict[str, Any] = {"value": ev.value}
    if ev.details:
        out.update(ev.details)
    if explain is not None:
        out["explain"] = explain
    return out


def _annotations(ev: Evaluation, ranking: dict[str, Any] | None = None) -> dict[str, str]:
    """Short lines for notifiers: the forecast/anomaly summary and the likely cause."""
    out = {}
    text = (ev.details or {}).get("summary")
    if isinstance(text, str):
        out["insight"] = text
    if ranking is not None and ranking.get("clear_cause") and ranking["candidates"]:
        out["cause"] = f"{ranking['verdict']}: {ranking['candidates'][0]['summary']}"
    return out


def _spec_input(spec: dict[str, Any]) -> dict[str, Any]:
    """A stored spec (``to_dict`` form) as input to :meth:`Rule.from_dict`."""
    return {k: v for k, v in spec.items() if v is not None}
