"""Resource sampling in the serving process: CPU, memory, threads, files, host, GPU, network.

A :class:`ResourceSampler` wakes every ``interval_s`` in a daemon thread, reads the
process and its host with psutil (and GPUs through :mod:`vigil.sdk.gpu`), folds in what
was measured per call since the last sample — the SDK's delivery round trips with the
server's own handling time (``Server-Timing``), the CPU time of tracked calls (opt-in),
end-to-end latencies reported by callers — and hands one JSON-ready dict to ``emit``.
The Monitor (``Monitor(..., resources=True)``) queues those samples beside its
predictions; they reach ``POST /api/v1/models/{m}/resources``.

Nothing here runs per prediction unless CPU-time attribution is switched on
(``cpu_time=True``), which adds two thread-CPU-clock reads to each tracked call.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from vigil.errors import InvalidParameterError
from vigil.sdk.gpu import GpuReader, summarise

log = logging.getLogger("vigil.sdk")

F = TypeVar("F", bound=Callable[..., Any])
_PER_CALL_MAX = 100_000  # per-call measurements kept between two samples (oldest drop)
_HOLD_UNREGISTERED = 12  # samples held while the model is not registered yet


def parse_server_timing(value: str | None) -> float | None:
    """The ``vigil`` entry of a ``Server-Timing`` header, in seconds, or None.

    Examples:
        >>> parse_server_timing("db;dur=2, vigil;dur=12.5")
        0.0125
        >>> parse_server_timing(None) is None, parse_server_timing("vigil") is None
        (True, True)
    """
    if not value:
        return None
    for entry in value.split(","):
        name, _, params = entry.strip().partition(";")
        if name.strip() != "vigil":
            continue
        for param in params.split(";"):
            key, _, number = param.strip().partition("=")
            if key == "dur":
                try:
                    seconds = float(number) / 1000.0
                except ValueError:
                    return None
                return seconds if math.isfinite(seconds) and seconds >= 0 else None
    return None


def quantile(values: list[float], q: float) -> float | None:
    """Nearest-rank quantile of sorted ``values`` (None when empty).

    Examples:
        >>> quantile([1.0, 2.0, 3.0, 4.0], 0.5), quantile(list(map(float, range(1, 101))), 0.95)
        (2.0, 95.0)
    """
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def cpu_timed(fn: F, sink: deque[int]) -> F:
    """Wrap ``fn`` to append the thread CPU nanoseconds of each call to ``sink``."""
    clock = time.thread_time_ns
    append = sink.append

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        c0 = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            append(clock() - c0)

    return timed  # type: ignore[return-value]


def _drain(queue: deque[Any]) -> list[Any]:
    n = len(queue)
    return [queue.popleft() for _ in range(n)]


class ResourceSampler:
    """Samples this process and its host every ``interval_s`` in a daemon thread.

    Args:
        emit: called with each sample dict (from the sampler's thread); default: keep
            nothing (call :meth:`sample` yourself).
        interval_s: seconds between samples (default 10).
        gpu: read NVIDIA GPUs through NVML when it is available.
        nvml: an NVML binding to use instead of ``pynvml`` (tests).
        host: the host name reported; default ``socket.gethostname()``.
        cpu_time: whether tracked calls measure their CPU time (see :func:`cpu_timed`).

    Attributes:
        send_timings: ``(round trip s, Server-Timing header)`` per delivery; the HTTP
            transport appends to it.
        cpu_times: thread CPU nanoseconds per tracked call (with ``cpu_time``).
        client_latencies: end-to-end seconds reported by callers.

    Examples:
        >>> sampler = ResourceSampler(interval_s=1.0, gpu=False)
        >>> s = sampler.sample()
        >>> s["process_rss_bytes"] > 0, s["host_cpu_count"] >= 1, s["pid"] == os.getpid()
        (True, True, True)
        >>> sampler.client_latencies.extend([0.020, 0.030, 0.120])
        >>> s = sampler.sample()
        >>> s["client_latency_count"], s["client_latency_p95_ms"]
        (3, 120.0)
    """

    def __init__(
        self,
        emit: Callable[[dict[str, Any]], None] | None = None,
        *,
        interval_s: float = 10.0,
        gpu: bool = True,
        nvml: Any | None = None,
        host: str | None = None,
        cpu_time: bool = False,
    ) -> None:
        if (
            isinstance(interval_s, bool)
            or not isinstance(interval_s, int | float)
            or not math.isfinite(interval_s)
            or interval_s <= 0
        ):
            raise InvalidParameterError(
                f"'interval_s' of the resource sampler must be a positive number of seconds. "
                f"Got {interval_s!r}."
            )
        import psutil  # a few ms; loaded only when resources are sampled

        self._psutil = psutil
        self.emit = emit
        self.interval_s = float(interval_s)
        self.host = host or socket.gethostname()
        self.cpu_time = cpu_time
        self.cores = psutil.cpu_count() or 1
        self.send_timings: deque[tuple[float, str | None]] = deque(maxlen=_PER_CALL_MAX)
        self.cpu_times: deque[int] = deque(maxlen=_PER_CALL_MAX)
        self.client_latencies: deque[float] = deque(maxlen=_PER_CALL_MAX)
        self.samples = 0
        self.errors = 0
        self._gpu = GpuReader(nvml) if gpu else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reset_process()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _restart_in_child(ref))

    def _reset_process(self) -> None:
        self._proc = self._psutil.Process()
        self._pid = self._proc.pid
        self._last: tuple[float, float, float, float] | None = None
        self._baseline()

    # -- reading -------------------------------------------------------------------------

    def _host_cpu(self) -> tuple[float, float]:
        t = self._psutil.cpu_times()
        guest = getattr(t, "guest", 0.0) + getattr(t, "guest_nice", 0.0)  # inside user/nice
        total = sum(t) - guest
        return total - t.idle - getattr(t, "iowait", 0.0), total

    def _proc_cpu(self) -> float:
        ct = self._proc.cpu_times()
        return ct.user + ct.system

    def _baseline(self) -> None:
        busy, total = self._host_cpu()
        self._last = (time.perf_counter(), self._proc_cpu(), busy, total)

    def sample(self) -> dict[str, Any]:
        """Read everything now; CPU percentages cover the time since the previous sample."""
        ps, proc = self._psutil, self._proc
        mono, ts = time.perf_counter(), time.time()
        with proc.oneshot():
            cpu_s = self._proc_cpu()
            rss = proc.memory_info().rss
            threads = proc.num_threads()
            files = proc.num_fds() if hasattr(proc, "num_fds") else proc.num_handles()
        busy, total = self._host_cpu()
        vm = ps.virtual_memory()
        out: dict[str, Any] = {
            "host": self.host,
            "pid": self._pid,
            "ts": ts,
            "interval_s": self.interval_s,
            "process_cpu_seconds": cpu_s,
            "process_rss_bytes": float(rss),
            "process_threads": float(threads),
            "process_open_files": float(files),
            "host_cpu_count": float(self.cores),
            "host_memory_used_bytes": float(vm.total - vm.available),
            "host_memory_total_bytes": float(vm.total),
            "host_load1": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        }
        if self._last is not None:
            last_mono, last_cpu, last_busy, last_total = self._last
            wall = mono - last_mono
            if wall > 0:
                pct = (cpu_s - last_cpu) / wall * 100.0
                out["process_cpu_percent"] = min(max(pct, 0.0), 100.0 * self.cores)
            if total > last_total:
                host = (busy - last_busy) / (total - last_total) * 100.0
                out["host_cpu_percent"] = min(max(host, 0.0), 100.0)
        self._last = (mono, cpu_s, busy, total)
        if self._gpu is not None and self._gpu.available:
            devices = self._gpu.read()
            out["gpus"] = devices
            out.update(summarise(devices))
        out.update(self._per_call())
        self.samples += 1
        return {k: v for k, v in out.items() if v is not None}

    def _per_call(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        timings = _drain(self.send_timings)
        if timings:
            rtts = sorted(rtt for rtt, _ in timings)
            server = [(rtt, parse_server_timing(header)) for rtt, header in timings]
            handled = sorted(s for _, s in server if s is not None)
            network = sorted(max(rtt - s, 0.0) for rtt, s in server if s is not None)
            out["net_sends"] = len(timings)
            out["net_rtt_p50_ms"] = _ms(quantile(rtts, 0.5))
            out["net_rtt_p95_ms"] = _ms(quantile(rtts, 0.95))
            out["net_server_p50_ms"] = _ms(quantile(handled, 0.5))
            out["net_network_p50_ms"] = _ms(quantile(network, 0.5))
            out["net_network_p95_ms"] = _ms(quantile(network, 0.95))
        cpu = _drain(self.cpu_times)
        if cpu:
            cpu.sort()
            out["request_count"] = len(cpu)
            out["request_cpu_ms_mean"] = sum(cpu) / len(cpu) / 1e6
            out["request_cpu_ms_p95"] = quantile(cpu, 0.95) / 1e6  # type: ignore[operator]
        client = _drain(self.client_latencies)
        if client:
            client.sort()
            out["client_latency_count"] = len(client)
            out["client_latency_p50_ms"] = _ms(quantile(client, 0.5))
            out["client_latency_p95_ms"] = _ms(quantile(client, 0.95))
        return out

    # -- the thread ----------------------------------------------------------------------

    def start(self) -> ResourceSampler:
        """Start sampling in a daemon thread (the first sample comes after one interval)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="vigil-resources", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        self._baseline()
        while not self._stop.wait(self.interval_s):
            try:
                sample = self.sample()
                if self.emit is not None:
                    self.emit(sample)
            except Exception:  # the process may lack a permission; never kill the thread
                self.errors += 1
                if self.errors <= 3:
                    log.exception("vigil: taking a resource sample failed")

    def stop(self, timeout_s: float | None = 5.0) -> None:
        """Stop the thread and release NVML (idempotent)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        if self._gpu is not None:
            self._gpu.close()

    @property
    def running(self) -> bool:
        """Whether the sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def restart_after_fork(self) -> None:
        """In a forked child: measure the child, in a fresh thread, if the parent sampled."""
        was_running = self._thread is not None and not self._stop.is_set()
        self._thread = None
        self._reset_process()
        for queue in (self.send_timings, self.cpu_times, self.client_latencies):
            queue.clear()
        if was_running:
            self.start()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def _restart_in_child(ref: weakref.ref[ResourceSampler]) -> None:
    sampler = ref()
    if sampler is not None:
        try:
            sampler.restart_after_fork()
        except Exception:
            log.exception("vigil: could not restart the resource sampler after fork")


def start_sampler(
    sender: Any, transport: Any, interval_s: float, cpu_time: bool
) -> ResourceSampler:
    """A started sampler whose samples go into ``sender``'s queue, fed with the
    transport's delivery timings when it offers them (the Monitor's wiring)."""
    from vigil.sdk.encode import RESOURCE

    put = sender.put
    held: deque[dict[str, Any]] = deque()

    def emit(sample: dict[str, Any]) -> None:
        # Samples cannot register a model: until predictions (or a schema) have, hold the
        # first few rather than have them rejected while the service waits for traffic.
        if (
            sender.schema is None
            and sender.model not in sender._ensured
            and len(held) < _HOLD_UNREGISTERED
        ):
            held.append(sample)
            return
        while held:
            put((RESOURCE, held.popleft()))
        put((RESOURCE, sample))

    sampler = ResourceSampler(emit, interval_s=interval_s, cpu_time=cpu_time)
    if hasattr(transport, "timing_sink"):
        transport.timing_sink = sampler.send_timings
    return sampler.start()
