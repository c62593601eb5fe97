"""Server-side exporters: finished minute rollups, read once, pushed on a schedule.

CloudWatch and OpenTelemetry exporters implement :class:`MinuteExporter`: they receive
the per-(model, version, minute) rollups of minutes that ended at least ``lag_s`` ago, so
late events of a minute are mostly in before it is published. :class:`ExportLoop` runs
exporters in one daemon thread, remembers per exporter the last minute it delivered and
retries a failed range on the next tick (a backlog longer than ``max_backlog_s`` is
skipped, counted and logged). A failing backend never stops the server.

With several server replicas only the leader of the ``exports`` job publishes, and the
cursor lives in the store: each range is a round claimed under the lease's fencing token
and finished with its end, so a new leader goes on where the last finished range ended
(a minute is published once; a range whose leader died mid-publish is published again).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("vigil.integrations")


@dataclass(frozen=True, slots=True)
class MinuteStats:
    """One model version's traffic in one minute, from its rollup row."""

    model: str
    version: str
    minute: int
    count: int
    errors: int
    latency_count: int
    latency_sum: float
    sketch: Any  # datasketches.kll_doubles_sketch, or None without latencies

    def quantile(self, q: float) -> float | None:
        """A latency quantile in seconds, or None without latencies."""
        if self.sketch is None or self.sketch.is_empty():
            return None
        return float(self.sketch.get_quantile(q))


def minute_stats(store: Any, start: float, end: float) -> list[MinuteStats]:
    """Rollups of every model with ``start <= minute < end``, by model then minute."""
    from datasketches import kll_doubles_sketch

    out: list[MinuteStats] = []
    for model in store.list_models():
        for row in store.rollup_rows(model.id, start, end, profiles=False):
            sketch = (
                kll_doubles_sketch.deserialize(row.latency_sketch)
                if row.latency_sketch is not None
                else None
            )
            out.append(
                MinuteStats(
                    model.name,
                    row.version,
                    int(row.minute),
                    int(row.count),
                    int(row.errors),
                    int(row.latency_count),
                    float(row.latency_sum),
                    sketch,
                )
            )
    return out


class MinuteExporter(Protocol):
    """Publishes finished minutes somewhere; raises when the backend failed."""

    name: str

    def export(self, stats: list[MinuteStats], start: int, end: int) -> None: ...

    def close(self) -> None: ...


class ExportLoop:
    """Runs exporters every ``interval_s`` on the store's finished minutes.

    Args:
        store: the vigil store.
        exporters: what to publish to.
        interval_s: seconds between ticks.
        lag_s: a minute is published once it ended this long ago.
        max_backlog_s: the oldest unpublished range kept for retries.
        backfill_s: on start, also publish the minutes that ended this far back.
        leadership: with replicas, publish only while leading ``exports``, from the
            cursor stored by the last leader.
    """

    def __init__(
        self,
        store: Any,
        exporters: list[MinuteExporter],
        *,
        interval_s: float = 60.0,
        lag_s: float = 30.0,
        max_backlog_s: float = 3600.0,
        backfill_s: float = 0.0,
        leadership: Any = None,
    ) -> None:
        self.store = store
        self.leadership = leadership
        self.exporters = exporters
        self.interval_s = interval_s
        self.lag_s = lag_s
        self.max_backlog_s = max_backlog_s
        start = self._horizon(time.time()) - int(backfill_s // 60) * 60
        self.cursor = {e.name: start for e in exporters}
        self.stats = {
            e.name: {"exports": 0, "failures": 0, "skipped_minutes": 0} for e in exporters
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _horizon(self, now: float) -> int:
        return int((now - self.lag_s) // 60) * 60

    def tick(self, now: float | None = None) -> None:
        """Publish every finished minute not yet delivered, per exporter; never raises."""
        if self.leadership is not None:
            if not self.leadership.leads("exports"):
                return
            for exporter in self.exporters:  # go on where the last leader's rounds ended
                try:
                    done = self.leadership.leases.last_position(f"exports:{exporter.name}")
                except Exception:
                    log.exception("vigil: could not read the export cursor")
                    return
                if done is not None:
                    self.cursor[exporter.name] = int(done)
        end = self._horizon(time.time() if now is None else now)
        todo = [e for e in self.exporters if self.cursor[e.name] < end]
        if not todo:
            return
        oldest = max(min(self.cursor[e.name] for e in todo), end - int(self.max_backlog_s))
        try:
            stats = minute_stats(self.store, oldest, end)
        except Exception:
            log.exception("vigil: could not read rollups for the exporters")
            return
        for exporter in todo:
            name = exporter.name
            start = self.cursor[name]
            if start < oldest:
                self.stats[name]["skipped_minutes"] += (oldest - start) // 60
                log.warning(
                    "vigil: %s skipped %d unpublished minutes older than %d s",
                    name,
                    (oldest - start) // 60,
                    self.max_backlog_s,
                )
                start = oldest
            mine = [s for s in stats if start <= s.minute < end]
            try:
                self._publish(exporter, mine, start, end)
            except Exception as exc:
                self.stats[name]["failures"] += 1
                log.warning(
                    "vigil: %s could not publish minutes %d..%d (%s); retrying later",
                    name,
                    start,
                    end,
                    exc,
                )
                continue
            self.stats[name]["exports"] += 1
            self.cursor[name] = end

    def _publish(
        self, exporter: MinuteExporter, stats: list[MinuteStats], start: int, end: int
    ) -> None:
        if self.leadership is None:
            exporter.export(stats, start, end)
            return
        with self.leadership.round(f"exports:{exporter.name}", str(start), end) as token:
            if token is None:
                raise RuntimeError("not leading the exports job, or the range is done")
            exporter.export(stats, start, end)

    def start(self) -> ExportLoop:
        """Tick in a daemon thread until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="vigil-exporters", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and close the exporters (what is unpublished stays so)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        for exporter in self.exporters:
            try:
                exporter.close()
            except Exception:
                log.exception("vigil: closing %s failed", exporter.name)
