"""A Prometheus collector that reads the store at most every ``ttl_s`` seconds.

Gauges computed from the store (quality, answer quality) are scraped more often than they
change, and a scrape must answer even when the store does not: the families are cached
for ``ttl_s`` and a failure answers no families (logged) instead of an error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vigil.store import Store

log = logging.getLogger("vigil.engine")


class CachedCollector(Collector):
    """Subclasses compute their families in :meth:`families`; ``what`` names them in
    the log line of a failure, written to ``logger``."""

    what = "gauges"
    logger = log

    def __init__(self, store: Store, ttl_s: float = 30.0) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self._cache: tuple[float, list[GaugeMetricFamily]] | None = None
        self._lock = threading.Lock()

    def describe(self) -> list[GaugeMetricFamily]:
        return []

    def families(self) -> list[GaugeMetricFamily]:
        """The families to expose, read from the store now."""
        raise NotImplementedError

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            if self._cache is None or time.monotonic() - self._cache[0] > self.ttl_s:
                try:
                    self._cache = (time.monotonic(), self.families())
                except Exception:  # /metrics must answer even when the store does not
                    self.logger.exception("%s failed", self.what)
                    return iter(())
            return iter(self._cache[1])
