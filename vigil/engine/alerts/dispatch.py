"""Runs notifiers and actions in background threads so the engine never waits on them.

Each notifier gets its retries (see :func:`vigil.notify.deliver`); the outcome goes to the
alert's history, the log and the ``vigil_notifications_total`` counter. Each action's
outcome also goes to the audit log with the alert that caused it.
"""

from __future__ import annotations

import logging
import threading
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

    # -- the engine's side -------------------------------------------------------------
    def notify(self, rule: Rule, notification: Notification) -> None:
        """Send to the rule's notifiers and those of every route its labels match; the
        notifiers of a route with ``group_by`` hear of it in its group's message."""
        notification = self.with_link(notification)
        names = list(rule.notifiers)
        labels = alert_labels(rule.name, rule.severity, {**rule.labels, **notification.labels})
        routes = self.alerts.list_receivers("route")
        names += [n for n in routed_notifiers(routes, labels) if n not in names]
        grouped = grouping_routes(routes, labels)
        for name in names:
            if name not in grouped:
                self._submit(self._notify_one, name, notification)
        by_route: dict[str, tuple[dict[str, Any], list[str]]] = {}
        for name, route in grouped.items():
            by_route.setdefault(route["name"], (route, []))[1].append(name)
        for route, notifiers in by_route.values():
            key = self.grouper().add(route, notifiers, labels, notification)
            self._record(
                notification.alert_id,
                "grouped",
                {
                    "route": route["name"],
                    "group": key,
                    "status": notification.status,
                    "notifiers": notifiers,
                },
            )

    def grouper(self) -> Grouper:
        """The groups of grouping routes (made, with its timer thread, on first use)."""
        with self._lock:
            if self._grouper is None:
                self._grouper = Grouper(
                    lambda name, group: self._submit(self._notify_group, name, group)
                )
            return self._grouper

    def act(self, rule: Rule, notification: Notification) -> None:
        notification = self.with_link(notification)
        for name in rule.actions:
            self._submit(self._act_one, name, notification)

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

    def _notify_one(self, name: str, note: Notification) -> None:
        outcome = self._send(name, note)
        if outcome is None:
            return
        attempts, error = outcome
        if error is not None:
            log.error(
                "notifier %s failed for alert %s (%s): %s", name, note.alert_id, note.status, error
            )
            self._record(
                note.alert_id,
                "notify_failed",
                {"notifier": name, "status": note.status, "error": error},
            )
            return
        self._record(
            note.alert_id,
            "notified",
            {"notifier": name, "status": note.status, "attempts": attempts},
        )

    def _notify_group(self, name: str, group: AlertGroup) -> None:
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
        for alert in group.alerts:
            details: dict[str, Any] = {"notifier": name, "status": alert.status, "group": group.key}
            if error is not None:
                self._record(alert.alert_id, "notify_failed", {**details, "error": error})
            else:
                details.update(alerts=len(group.alerts), attempts=attempts)
                self._record(alert.alert_id, "notified", details)

    def _act_one(self, name: str, note: Notification) -> None:
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

    def _record(self, alert_id: int, kind: str, details: dict[str, Any]) -> None:
        try:
            self.alerts.add_event(alert_id, kind, details)
        except VigilError as exc:
            log.error("could not record %s for alert %s: %s", kind, alert_id, exc.message)
