"""Group notifications by labels within a short window, with Alertmanager's semantics.

A route with ``group_by = ["model", "severity"]`` puts every alert it matches into the
group of its values of those labels (a label the alert lacks counts as empty). Then, as
Alertmanager documents for ``group_wait`` / ``group_interval``:

- a new group waits ``group_wait`` before its first notification, so alerts that fire
  together arrive as one message listing them all;
- after that the group is looked at every ``group_interval``: when something changed
  (an alert joined, resolved, or was re-notified by its rule's ``repeat``) one message
  goes out listing the group's alerts — firing ones and those resolved since the last
  message; resolved alerts then leave the group, and an empty group ends (the next alert
  starts a new one, with ``group_wait`` again);
- an alert that fired and resolved before its group was first sent is dropped (nobody
  heard of it firing), as Alertmanager drops resolved-only alerts never notified.

Groups live in memory, in the process whose engine evaluates the rules (one replica holds
the rules lease), and are flushed when the dispatcher closes. Each alert's place in a
group for a notifier is also an entry of the store's outbox (``outbox`` ids), finished
when a message carrying it has been sent: if the process dies first, the next leader
puts the alert back into its group, which waits ``group_wait`` again.

Examples:
    >>> from vigil.notify import Notification
    >>> n = Notification("firing", 1, "errors", "f", {"model": "churn"}, "critical",
    ...                  "error rate 0.5", 0.5, 0.1, 0.0, url="http://vigil/ui/alerts#alert-1")
    >>> group = AlertGroup("ml", {"model": "churn"}, (n,))
    >>> group.status, group.key, group.title
    ('firing', '{}/ml:{model="churn"}', '[FIRING:1] ml (model=churn)')
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vigil.notify.base import Notification

log = logging.getLogger("vigil.notify")


@dataclass(frozen=True)
class AlertGroup:
    """One grouped message: the route, the group's label values and its alerts."""

    route: str
    labels: dict[str, str]
    alerts: tuple[Notification, ...]

    @property
    def status(self) -> str:
        """``firing`` while any alert of the group fires, else ``resolved``."""
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    @property
    def key(self) -> str:
        """Alertmanager's ``groupKey`` shape: ``{}/<route>:{label="value",...}``."""
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{{}}/{self.route}:{{{inner}}}"

    @property
    def firing(self) -> list[Notification]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[Notification]:
        return [a for a in self.alerts if a.status != "firing"]

    @property
    def title(self) -> str:
        """``[FIRING:3] route (model=churn, severity=critical)``."""
        count = len(self.firing) if self.status == "firing" else len(self.alerts)
        labels = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return f"[{self.status.upper()}:{count}] {self.route}" + (f" ({labels})" if labels else "")

    def common_labels(self) -> dict[str, str]:
        """The labels (rule, severity and alert labels) every alert shares."""
        sets = [{"alertname": a.rule, "severity": a.severity, **a.labels} for a in self.alerts]
        if not sets:
            return {}
        return {k: v for k, v in sets[0].items() if all(s.get(k) == v for s in sets[1:])}

    def to_dict(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "key": self.key,
            "status": self.status,
            "labels": self.labels,
            "alerts": [a.to_dict() for a in self.alerts],
        }


@dataclass
class _Group:
    route: str
    labels: dict[str, str]
    notifiers: list[str]
    interval_s: float
    due: float  # the first send waits group_wait; each later one interval_s
    alerts: dict[int, Notification] = field(default_factory=dict)
    notified: dict[int, str] = field(default_factory=dict)  # alert id -> status last sent
    changed: bool = False
    owed: dict[str, list[int]] = field(default_factory=dict)  # notifier -> outbox ids


class Grouper:
    """Collects notifications into groups and hands each due group to ``send``.

    Args:
        send: called as ``send(notifier_name, group, outbox_ids)`` for each notifier of the
            route (on the grouper's thread; it should only queue the delivery), with the
            outbox ids the message settles for that notifier.
        drop: called with outbox ids settled without a message (every alert of the group
            resolved before anyone heard it fire).
        clock: a monotonic clock (tests may pass their own).
    """

    def __init__(
        self,
        send: Callable[[str, AlertGroup, list[int]], None],
        drop: Callable[[list[int]], object] = lambda ids: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._drop = drop
        self._clock = clock
        self._groups: dict[tuple[Any, ...], _Group] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(
        self,
        route: dict[str, Any],
        notifiers: list[str],
        labels: dict[str, str],
        note: Notification,
        outbox: dict[str, int] | None = None,
        heard_firing: bool = False,
    ) -> str:
        """Put ``note`` (whose routing labels are ``labels``) into its group of ``route``
        (``{name, config}``) for ``notifiers`` (with their outbox entry ids); return the
        group's key. ``heard_firing``: the alert's firing was sent in an earlier message
        (by another process), so its resolve is not dropped."""
        config = route["config"]
        values = {k: labels.get(k, "") for k in config["group_by"]}
        key = (route["name"], tuple(values.items()))
        with self._cond:
            group = self._groups.get(key)
            if group is None:
                group = _Group(
                    route["name"],
                    values,
                    [],
                    float(config["group_interval"]),
                    self._clock() + float(config["group_wait"]),
                )
                self._groups[key] = group
            group.notifiers.extend(n for n in notifiers if n not in group.notifiers)
            group.alerts[note.alert_id] = note
            if heard_firing:
                group.notified.setdefault(note.alert_id, "firing")
            for name, entry in (outbox or {}).items():
                group.owed.setdefault(name, []).append(entry)
            group.changed = True
            self._start()
            self._cond.notify_all()
        return AlertGroup(group.route, values, ()).key

    def pending(self) -> int:
        """How many groups hold alerts not yet sent."""
        with self._cond:
            return sum(1 for g in self._groups.values() if g.changed)

    def close(self) -> None:
        """Send every group with unsent changes now and stop the timer thread."""
        with self._cond:
            self._closed = True
            due = [g for g in self._groups.values() if g.changed]
            self._cond.notify_all()
        for group in due:
            self._flush(group)
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- the timer thread ----------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(
                target=self._run, name="vigil-notify-groups", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                now = self._clock()
                due = [g for g in self._groups.values() if g.due <= now]
                if not due:
                    nxt = min((g.due for g in self._groups.values()), default=None)
                    self._cond.wait(None if nxt is None else max(0.0, nxt - now))
                    continue
                for group in due:
                    group.due = now + group.interval_s
            for group in due:
                try:
                    self._flush(group)
                except Exception:  # the timer must survive a failing send
                    log.exception("sending the notification group %s failed", group.route)

    def _flush(self, group: _Group) -> None:
        with self._cond:
            if not group.changed:
                self._drop_if_empty(group)
                return
            group.changed = False
            # resolved alerts nobody heard firing are dropped, as Alertmanager does
            alerts = [
                a
                for a in group.alerts.values()
                if a.status == "firing" or group.notified.get(a.alert_id) == "firing"
            ]
            for alert_id in [i for i, a in group.alerts.items() if a.status != "firing"]:
                del group.alerts[alert_id]
                group.notified.pop(alert_id, None)
            for a in alerts:
                if a.status == "firing":
                    group.notified[a.alert_id] = "firing"
            notifiers = list(group.notifiers)
            owed = {name: group.owed.pop(name, []) for name in notifiers}
            self._drop_if_empty(group)
        if not alerts:
            settled = [i for ids in owed.values() for i in ids]
            if settled:
                self._drop(settled)
            return
        message = AlertGroup(
            group.route,
            dict(group.labels),
            tuple(sorted(alerts, key=lambda a: (a.status != "firing", a.started_at, a.alert_id))),
        )
        for name in notifiers:
            self._send(name, message, owed[name])

    def _drop_if_empty(self, group: _Group) -> None:
        if not group.alerts:
            key = (group.route, tuple(group.labels.items()))
            if self._groups.get(key) is group:
                del self._groups[key]
