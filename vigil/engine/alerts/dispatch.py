"""Runs notifiers and actions in background threads so the engine never waits on them.

Each notifier gets its retries (see :func:`vigil.notify.deliver`); the outcome goes to the
alert's history, the log and the ``vigil_notifications_total`` counter. Each action's
outcome also goes to the audit log with the alert that caused it.

Nothing waits only in memory: the engine stores an alert's change together with a
``dispatch_pending`` mark, :meth:`Dispatcher.plan` lists who must hear of it, and the
entries go into the store's outbox in the transaction that clears the mark; each entry is
closed with its outcome. A leader that dies leaves marks and open entries behind, and the
next one re-plans the marks and re-sends the entries (:meth:`Dispatcher.recover`): a
notification is delivered at least once (twice only when a leader died between sending
it and recording that it did), an action at most once.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from vigil.engine.alerts.actions import RegistryClient, build_action
from vigil.engine.alerts.routing import alert_labels, grouping_routes, routed_notifiers
from vigil.engine.alerts.rules import Rule
from vigil.errors import VigilError
from vigil.notify.base import Notification, build_notifier, deliver
from vigil.notify.grouping import AlertGroup, Grouper
from vigil.store import Store
from vigil.store.alerts.queries import AlertStore

log = logging.getLogger("vigil.alerts")
_OUTBOX_KEEP_S = 86400.0  # finished outbox entries are kept a day (for inspection)


class _Stopped(Exception):
    pass


def default_registry(store: Store, home: Path) -> RegistryClient | None:
    """vigil's own registry for rollbacks, when this installation has it."""
    try:
        from vigil.registry.registry import Registry
    except ImportError:
        return None
    return Registry(store, home, actor="vigil-engine")


def with_dashboard_link(note: Notification, base_url: str | None) -> Notification:
    """``note`` with ``url`` set to its alert on the dashboard's alerts page."""
    if not base_url or note.url:
        return note
    from urllib.parse import quote

    model = quote(note.labels.get("model", ""), safe="")
    return replace(
        note, url=f"{base_url.rstrip('/')}/ui/alerts?state=all&model={model}#alert-{note.alert_id}"
    )


class Dispatcher:
    """Sends notifications and runs actions on a small thread pool."""

    def __init__(
        self,
        store: Store,
        home: Path,
        *,
        metrics: Any = None,
        registry: RegistryClient | None = None,
        workers: int = 4,
        base_url: str | None = None,
    ) -> None:
        self.store = store
        self.base_url = base_url  # the server's URL for links in action payloads
        self.alerts = AlertStore(store)
        self.home = Path(home)
        self.metrics = metrics
        self.registry = registry
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="vigil-notify")
        self._stop = threading.Event()
        self._futures: set[Future] = set()
        self._lock = threading.Lock()
        self._grouper: Grouper | None = None
        self._inflight: set[int] = set()  # outbox ids this process is delivering
        self._pruned_at = 0.0  # when finished outbox entries were last deleted

    # -- the engine's side -------------------------------------------------------------
    def plan(self, rule: Rule, notification: Notification, *, act: bool) -> list[dict[str, Any]]:
        """The outbox entries of one alert change (reads only): one per notifier of the
        rule and of every route its labels match (``group`` for a route with
        ``group_by``), and with ``act`` one per action of the rule."""
        note = self.with_link(notification)
        payload = note.to_dict()
        names = list(rule.notifiers)
        labels = alert_labels(rule.name, rule.severity, {**rule.labels, **note.labels})
        routes = self.alerts.list_receivers("route")
        names += [n for n in routed_notifiers(routes, labels) if n not in names]
        grouped = grouping_routes(routes, labels)
        entries: list[dict[str, Any]] = [
            {"kind": "notify", "target": name, "payload": payload}
            for name in names
            if name not in grouped
        ]
        for name, route in grouped.items():
            entries.append(
                {
                    "kind": "group",
                    "target": name,
                    "payload": {
                        "note": payload,
                        "route": {"name": route["name"], "config": route["config"]},
                        "labels": labels,
                    },
                }
            )
        if act:
            entries += [
                {"kind": "action", "target": name, "payload": payload} for name in rule.actions
            ]
        return entries

    def start(self, queued: list[tuple[int, dict[str, Any]]]) -> None:
        """Deliver queued outbox entries (``(id, entry)``) in the background; grouped ones
        join their group's next message."""
        with self._lock:
            self._inflight.update(entry_id for entry_id, _ in queued)
        by_route: dict[tuple[int, str], tuple[dict[str, Any], dict[str, int], dict[str, Any]]] = {}
        for entry_id, entry in queued:
            kind, target, payload = entry["kind"], entry["target"], entry["payload"]
            if kind == "notify":
                self._submit(self._notify_one, entry_id, target, Notification(**payload))
            elif kind == "action":
                self._submit(self._act_one, entry_id, target, Notification(**payload))
            else:
                note = payload["note"]
                route_key = (note["alert_id"], payload["route"]["name"])
                by_route.setdefault(route_key, (payload, {}, note))[1][target] = entry_id
        for payload, owed, note_dict in by_route.values():
            note = Notification(**note_dict)
            route = payload["route"]
            heard = note.status != "firing" and self._heard_firing(note.alert_id, route["name"])
            group_key = self.grouper().add(
                route, list(owed), payload["labels"], note, owed, heard_firing=heard
            )
            self._record(
                note.alert_id,
                "grouped",
                {
                    "route": route["name"],
                    "group": group_key,
                    "status": note.status,
                    "notifiers": list(owed),
                },
            )

    def _heard_firing(self, alert_id: int, route: str) -> bool:
        """Whether a group message of ``route`` carried the alert's firing (its history
        says so): a group made by this process does not know what an earlier leader sent."""
        row = self.alerts.get_alert(alert_id) or {}
        prefix = f"{{}}/{route}:"
        return any(
            e["kind"] == "notified"
            and (e["details"] or {}).get("status") == "firing"
            and str((e["details"] or {}).get("group", "")).startswith(prefix)
            for e in row.get("history", [])
        )

    def recover(self) -> int:
        """Deliver what the outbox holds that no delivery of this process owns (a leader
        died with it queued); return how many entries that was. Entries finished more
        than a day ago are deleted (at most once an hour: a delete is a write)."""
        now = time.time()
        if now - self._pruned_at >= 3600:
            self.alerts.prune_outbox(now - _OUTBOX_KEEP_S)
            self._pruned_at = now
        rows = self.alerts.open_outbox()
        with self._lock:
            orphans = [r for r in rows if r["id"] not in self._inflight]
        if orphans:
            log.warning("re-sending %d queued notifications left by a stopped leader", len(orphans))
            self.start([(r["id"], r) for r in orphans])
        return len(orphans)

    def grouper(self) -> Grouper:
        """The groups of grouping routes (made, with its timer thread, on first use)."""
        with self._lock:
            if self._grouper is None:
                self._grouper = Grouper(
                    lambda name, group, ids: self._submit(self._notify_group, name, group, ids),
                    drop=lambda ids: self._finish(ids, []),
                )
            return self._grouper

    def with_link(self, note: Notification) -> Notification:
        """``note`` with the dashboard URL of its alert (when the server's URL is known)."""
        return with_dashboard_link(note, self.base_url)

    def _submit(self, fn: Any, *args: Any) -> None:
        if self._stop.is_set():
            return
        future = self._pool.submit(fn, *args)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        with self._lock:
            self._futures.discard(future)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for what has been submitted so far (tests, shutdown)."""
        from concurrent.futures import wait

        with self._lock:
            pending = set(self._futures)
        wait(pending, timeout=timeout)

    def close(self, flush_timeout_s: float = 10.0) -> None:
        """Send the groups still waiting (up to ``flush_timeout_s``), then stop retrying,
        drop queued work and wait for sends in flight (bounded by timeouts)."""
        grouper = self._grouper
        if grouper is not None:
            waiting = grouper.pending()
            grouper.close()
            if waiting:
                self.wait(flush_timeout_s)
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stopped

    # -- the workers' side -------------------------------------------------------------
    def _receiver(self, category: str, name: str) -> dict[str, Any] | None:
        return next((r for r in self.alerts.list_receivers(category) if r["name"] == name), None)

    def _send(self, name: str, payload: Notification | AlertGroup) -> tuple[int, str | None] | None:
        """Deliver ``payload`` through notifier ``name`` and count the outcome: (attempts,
        None) when sent, (0, the error) when it failed, None when the dispatcher stopped."""
        try:
            receiver = self._receiver("notifier", name)
            if receiver is None:
                raise VigilError(f"notifier {name!r} is not configured")
            notifier = build_notifier(name, receiver["type"], receiver["config"])
            attempts = deliver(notifier, payload, sleep=self._sleep)
        except _Stopped:
            return None
        except Exception as exc:
            message = exc.message if isinstance(exc, VigilError) else f"{type(exc).__name__}: {exc}"
            if self.metrics is not None:
                self.metrics.notified(name, "failed")
            return 0, message
        if self.metrics is not None:
            self.metrics.notified(name, "sent")
        return attempts, None

    def _notify_one(self, entry_id: int, name: str, note: Notification) -> None:
        outcome = self._send(name, note)
        if outcome is None:
            return
        attempts, error = outcome
        if error is not None:
            log.error(
                "notifier %s failed for alert %s (%s): %s", name, note.alert_id, note.status, error
            )
            details = {"notifier": name, "status": note.status, "error": error}
            self._finish([entry_id], [(note.alert_id, "notify_failed", details)])
            return
        sent = {"notifier": name, "status": note.status, "attempts": attempts}
        self._finish([entry_id], [(note.alert_id, "notified", sent)])

    def _notify_group(self, name: str, group: AlertGroup, entry_ids: list[int]) -> None:
        outcome = self._send(name, group)
        if outcome is None:
            return
        attempts, error = outcome
        if error is not None:
            log.error(
                "notifier %s failed for group %s (%d alerts): %s",
                name,
                group.key,
                len(group.alerts),
                error,
            )
        events = []
        for alert in group.alerts:
            details: dict[str, Any] = {"notifier": name, "status": alert.status, "group": group.key}
            if error is not None:
                events.append((alert.alert_id, "notify_failed", {**details, "error": error}))
            else:
                details.update(alerts=len(group.alerts), attempts=attempts)
                events.append((alert.alert_id, "notified", details))
        self._finish(entry_ids, events)

    def _act_one(self, entry_id: int, name: str, note: Notification) -> None:
        # at most once: the entry is closed before the action runs, so a rollback or a
        # retraining trigger is never repeated by the next leader (an action cut short by
        # a crash is not re-run; its alert's history shows no outcome for it)
        if not self._finish([entry_id], []):
            return
        type_ = "?"
        try:
            receiver = self._receiver("action", name)
            if receiver is None:
                raise VigilError(f"action {name!r} is not configured")
            type_ = receiver["type"]
            registry = self.registry
            if type_ == "rollback" and registry is None:
                registry = default_registry(self.store, self.home)
            action = build_action(
                name,
                type_,
                receiver["config"],
                store=self.store,
                home=self.home,
                registry=registry,
                base_url=self.base_url,
            )
            result = action.run(note)
        except Exception as exc:
            message = exc.message if isinstance(exc, VigilError) else f"{type(exc).__name__}: {exc}"
            log.error("action %s failed for alert %s: %s", name, note.alert_id, message)
            details = {
                "alert_id": note.alert_id,
                "rule": note.rule,
                "action": name,
                "type": type_,
                "outcome": "failed",
                "error": message,
            }
            self._audit(type_, note, details)
            self._record(note.alert_id, "action_failed", details)
            if self.metrics is not None:
                self.metrics.acted(name, "failed")
            return
        details = {
            "alert_id": note.alert_id,
            "rule": note.rule,
            "action": name,
            "type": type_,
            "outcome": "ok",
            "result": result,
        }
        log.warning("action %s ran for alert %s: %s", name, note.alert_id, result)
        self._audit(type_, note, details)
        self._record(note.alert_id, "action", details)
        if self.metrics is not None:
            self.metrics.acted(name, "ok")

    def _audit(self, type_: str, note: Notification, details: dict[str, Any]) -> None:
        try:
            self.store.audit("vigil-engine", f"action.{type_}", note.labels.get("model"), details)
        except VigilError as exc:
            log.error("could not audit action for alert %s: %s", note.alert_id, exc.message)

    def _finish(self, entry_ids: list[int], events: list[tuple[int, str, dict[str, Any]]]) -> int:
        """Close outbox entries with their history events (see :meth:`AlertStore.finish`)."""
        try:
            return self.alerts.finish(entry_ids, events)
        except VigilError as exc:
            log.error("could not record the delivery of %s: %s", entry_ids, exc.message)
            return 0
        finally:
            with self._lock:
                self._inflight.difference_update(entry_ids)

    def _record(self, alert_id: int, kind: str, details: dict[str, Any]) -> None:
        try:
            self.alerts.add_event(alert_id, kind, details)
        except VigilError as exc:
            log.error("could not record %s for alert %s: %s", kind, alert_id, exc.message)
