"""Scheduled HTTP probes of a model's serving endpoint, run by the server.

Each probe sends one request every ``interval_s`` and records, from the monitoring side:
the time to the response headers (time to first byte), the time to the whole body, the
status and whether it counts as a success (the expected status, else any 2xx/3xx).
Failures — connection refused, timeouts, unexpected statuses — are results too, with the
reason. With several server replicas only the leader of the ``probes`` job runs them
(:mod:`vigil.engine.leader`). Each run is claimed in the store under the lease's fencing
token just before its request (:meth:`vigil.store.leases.Leases.claim_run`), and a new
leader starts each probe one interval after its newest claim or stored result, so a
takeover neither doubles nor bunches the runs, even when a deposed leader's run was
scheduled before it lost the lease.

Probe URLs on internal addresses (loopback, private, link-local: the cloud metadata
service, the server itself) are refused at creation and before each request unless
``VIGIL_ALLOW_PRIVATE_TARGETS`` allows them (:mod:`vigil.egress`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from starlette.concurrency import run_in_threadpool

from vigil.egress import EgressPolicy, EgressRefusedError, TargetUnresolvedError
from vigil.errors import InvalidParameterError, ValidationFailedError
from vigil.store import Store
from vigil.store.leases import LeaseLostError
from vigil.store.resources import queries as rq

if TYPE_CHECKING:
    from vigil.engine.leader import Leadership

log = logging.getLogger("vigil.probe")

_KEYS = frozenset({"name", "url", "method", "body", "interval_s", "timeout_s", "expect_status"})
_METHODS = ("GET", "POST", "HEAD")
MIN_INTERVAL_S = 1.0
CLAIM_GAP = 0.9  # runs claimed across replicas are at least this share of the interval apart


def _claim_job(probe: Mapping[str, Any]) -> str:
    """The round job under which a probe's runs are claimed (fenced by ``probes``)."""
    return f"probes:{probe['id']}"


def validate_probe(body: Any) -> dict[str, Any]:
    """A probe spec from a request body, or :class:`ValidationFailedError` listing
    ``{field, reason}`` for each problem.

    Examples:
        >>> spec = validate_probe({"url": "http://127.0.0.1:9000/predict", "method": "post",
        ...                        "body": {"x": 1}})
        >>> spec["name"], spec["method"], spec["interval_s"], spec["timeout_s"]
        ('127.0.0.1:9000/predict', 'POST', 30.0, 5.0)
    """
    if not isinstance(body, Mapping):
        raise InvalidParameterError("The body must be a JSON object with at least 'url'.")
    errors: list[dict[str, str]] = []

    def bad(field: str, reason: str) -> None:
        errors.append({"field": field, "reason": reason})

    unknown = set(body) - _KEYS
    if unknown:
        bad("body", f"unknown fields {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    url = body.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        bad("url", f"expected an absolute http(s) URL, got {url!r}")
    method = str(body.get("method", "GET")).upper()
    if method not in _METHODS:
        bad("method", f"expected one of {', '.join(_METHODS)}, got {body.get('method')!r}")
    interval = _seconds(body.get("interval_s", 30.0), "interval_s", MIN_INTERVAL_S, bad)
    timeout = _seconds(body.get("timeout_s", 5.0), "timeout_s", 0.01, bad)
    if interval is not None and timeout is not None and timeout > interval:
        bad("timeout_s", f"must not exceed interval_s ({interval:g} s), got {timeout:g}")
    expect = body.get("expect_status")
    if expect is not None and (
        isinstance(expect, bool) or not isinstance(expect, int) or not 100 <= expect <= 599
    ):
        bad("expect_status", f"expected an HTTP status (100-599) or null, got {expect!r}")
    name = body.get("name")
    if name is None and parts is not None and parts.netloc:
        name = (parts.netloc + parts.path)[:200]
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        bad("name", f"expected a string of 1-200 characters, got {name!r}")
    if errors:
        raise ValidationFailedError("The probe is invalid; see details.", details=errors)
    return {
        "name": name,
        "url": url,
        "method": method,
        "body": body.get("body"),
        "interval_s": interval,
        "timeout_s": timeout,
        "expect_status": expect,
    }


def _seconds(value: Any, field: str, low: float, bad: Any) -> float | None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < low
    ):
        bad(field, f"expected a number of seconds >= {low:g}, got {value!r}")
        return None
    return float(value)


def check_target(spec: Mapping[str, Any], egress: EgressPolicy) -> None:
    """Refuse (422, field ``url``) a probe whose URL names an internal address; a host
    that does not resolve yet is accepted (its runs will fail until it does)."""
    try:
        egress.resolve(spec["url"])
    except TargetUnresolvedError:
        return
    except EgressRefusedError as exc:
        raise ValidationFailedError(exc.message, details=exc.details) from None


async def run_probe(
    client: httpx.AsyncClient, probe: Mapping[str, Any], egress: EgressPolicy | None = None
) -> dict[str, Any]:
    """Send one probe request; return ``{ts, ok, status, latency_ms, ttfb_ms, error}``.
    ``egress`` defaults to the policy of the environment and vigil.toml."""
    ts = time.time()
    status = ttfb = latency = None
    error = None
    kwargs: dict[str, Any] = {"timeout": probe["timeout_s"]}
    if probe.get("body") is not None and probe["method"] == "POST":
        kwargs["json"] = probe["body"]
    policy = egress or EgressPolicy.from_environment()
    try:
        target = await run_in_threadpool(policy.pin, probe["url"])
    except EgressRefusedError as exc:
        unresolved = isinstance(exc, TargetUnresolvedError)
        reason = exc.message if unresolved else f"refused: {exc.message}"
        return {
            "ts": ts,
            "ok": False,
            "status": None,
            "latency_ms": None,
            "ttfb_ms": None,
            "error": reason[:500],
        }
    if target.headers:
        kwargs["headers"] = target.headers
    if target.extensions:
        kwargs["extensions"] = target.extensions
    t0 = time.perf_counter()
    try:
        async with client.stream(probe["method"], target.url, **kwargs) as resp:
            ttfb = (time.perf_counter() - t0) * 1000.0
            status = resp.status_code
            await resp.aread()
            latency = (time.perf_counter() - t0) * 1000.0
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
    expect = probe.get("expect_status")
    ok = status is not None and (status == expect if expect else 200 <= status < 400)
    if status is not None and not ok:
        error = f"unexpected status {status}" + (f" (expected {expect})" if expect else "")
    return {
        "ts": ts,
        "ok": ok,
        "status": status,
        "latency_ms": latency,
        "ttfb_ms": ttfb,
        "error": error,
    }


def probe_stats(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Count, failures, failure rate and latency/TTFB quantiles of probe results.

    Examples:
        >>> rs = [{"ok": True, "latency_ms": float(i), "ttfb_ms": i / 2, "ts": i}
        ...       for i in range(1, 101)] + [{"ok": False, "latency_ms": None,
        ...                                    "ttfb_ms": None, "ts": 101}]
        >>> s = probe_stats(rs)
        >>> s["count"], s["failures"], round(s["failure_rate"], 3), s["latency_p95_ms"]
        (101, 1, 0.01, 95.0)
    """
    latencies = sorted(r["latency_ms"] for r in results if r["latency_ms"] is not None)
    ttfbs = sorted(r["ttfb_ms"] for r in results if r["ttfb_ms"] is not None)
    failures = sum(1 for r in results if not r["ok"])
    return {
        "count": len(results),
        "failures": failures,
        "failure_rate": failures / len(results) if results else None,
        "latency_p50_ms": _quantile(latencies, 0.5),
        "latency_p95_ms": _quantile(latencies, 0.95),
        "ttfb_p50_ms": _quantile(ttfbs, 0.5),
        "ttfb_p95_ms": _quantile(ttfbs, 0.95),
        "last": max(results, key=lambda r: r["ts"]) if results else None,
    }


def _quantile(values: list[float], q: float) -> float | None:
    """Nearest-rank quantile of sorted values."""
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


class ProbeScheduler:
    """Runs every stored probe on its interval in the server's event loop.

    Args:
        store: where probes are defined and results go.
        refresh_s: how often the list of probes is read again from the store.
        on_result: called with ``(probe, result)`` after each run (live gauges).
        egress: which internal targets may be probed (default: environment, vigil.toml).
        leadership: with replicas, probes run only while this process leads ``probes``.
    """

    def __init__(
        self,
        store: Store,
        *,
        refresh_s: float = 5.0,
        on_result: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
        egress: EgressPolicy | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self.store = store
        self.leadership = leadership
        self.egress = egress or EgressPolicy.from_environment()
        self.refresh_s = refresh_s
        self.on_result = on_result
        self._due: dict[str, float] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # look at the schedule again now
        self._reload = False  # ... and read the probe list again first

    def start(self) -> None:
        """Start the loop (call inside a running event loop)."""
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def refresh(self) -> None:
        """Read the probe list now (after a probe was created or deleted)."""
        self._reload = True
        self._wake.set()

    async def stop(self) -> None:
        """Stop the loop and wait for probes in flight."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _loop(self) -> None:
        async with httpx.AsyncClient(follow_redirects=False) as client:
            probes: list[dict[str, Any]] = []
            loaded = -math.inf
            leading = False
            while True:
                if self.leadership is not None and not self.leadership.leads("probes"):
                    leading = False
                    self._due.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 0.25)
                    self._wake.clear()
                    continue
                if not leading:  # newly leading: go on from the stored results
                    leading = True
                    loaded = -math.inf
                    try:
                        probes = await run_in_threadpool(rq.list_probes, self.store)
                        self._due = await run_in_threadpool(self._resume, probes)
                    except Exception:
                        log.exception("vigil: could not read the probes")
                now = time.monotonic()
                self._wake.clear()
                if now - loaded >= self.refresh_s or self._reload:
                    self._reload = False
                    try:
                        probes = await run_in_threadpool(rq.list_probes, self.store)
                    except Exception:
                        log.exception("vigil: could not read the probes")
                    loaded = now
                    live = {p["id"] for p in probes}
                    self._due = {k: v for k, v in self._due.items() if k in live}
                for probe in probes:
                    due = self._due.setdefault(probe["id"], now)
                    if due <= now:
                        self._due[probe["id"]] = now + probe["interval_s"]
                        task = asyncio.create_task(self._run_one(client, probe))
                        self._running.add(task)
                        task.add_done_callback(self._running.discard)
                wait = min([*self._due.values(), now + self.refresh_s]) - time.monotonic()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.05, wait))

    def _resume(self, probes: list[dict[str, Any]]) -> dict[str, float]:
        """When each probe is next due (monotonic clock): one interval after its newest
        stored result, at once when it has none in the last interval."""
        wall, mono = time.time(), time.monotonic()
        due: dict[str, float] = {}
        for probe in probes:
            last = rq.probe_results(
                self.store, probe["id"], wall - probe["interval_s"], wall + 60, limit=1
            )
            newest = last[0]["ts"] if last else None
            if self.leadership is not None:  # a run claimed whose result is not stored yet
                claimed = self.leadership.leases.last_position(_claim_job(probe))
                if claimed is not None and (newest is None or claimed > newest):
                    newest = claimed
            wait = newest + probe["interval_s"] - wall if newest is not None else 0.0
            due[probe["id"]] = mono + max(0.0, wait)
        return due

    def _claim(self, probe: Mapping[str, Any]) -> float | None:
        """Claim this run across replicas (fenced by the ``probes`` lease): None when it
        may go now, else how many seconds until it may (a run claimed elsewhere, or this
        process no longer leads: then one refresh interval)."""
        leadership = self.leadership
        if leadership is None:
            return None
        token = leadership.token("probes")
        if token is None:
            return self.refresh_s
        try:
            due = leadership.leases.claim_run(
                _claim_job(probe), token, leadership.holder, CLAIM_GAP * probe["interval_s"]
            )
        except LeaseLostError:
            return self.refresh_s
        return None if due is None else max(0.0, due - time.time())

    async def _run_one(self, client: httpx.AsyncClient, probe: dict[str, Any]) -> None:
        try:
            wait = await run_in_threadpool(self._claim, probe)
            if wait is not None:  # not this process's run: try again when it may be
                if probe["id"] in self._due:
                    self._due[probe["id"]] = time.monotonic() + wait
                    self._wake.set()
                return
            result = await run_probe(client, probe, self.egress)
            await run_in_threadpool(rq.insert_probe_result, self.store, probe["id"], result)
            if self.on_result is not None:
                self.on_result(probe, result)
        except Exception:
            log.exception("vigil: probe %s failed to run", probe.get("name"))
