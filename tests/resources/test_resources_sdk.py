"""The SDK's resource sampler, GPU reader (with a fake NVML) and Monitor wiring."""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

import pytest

from vigil.errors import InvalidParameterError
from vigil.sdk import MemoryTransport, Monitor
from vigil.sdk.gpu import GpuReader, load_nvml
from vigil.sdk.resources import ResourceSampler, cpu_timed, parse_server_timing


class NotSupported(Exception):
    """Stands for pynvml.NVMLError_NotSupported."""


class FakeNvml:
    """An NVML binding with pynvml's names and two devices; device 1 lacks power."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, *, init_error: Exception | None = None) -> None:
        self.init_error = init_error
        self.calls: list[str] = []
        self.util = [55, 5]

    def nvmlInit(self):
        self.calls.append("init")
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self):
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return f"h{i}"

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA H100 80GB HBM3" if h == "h0" else "NVIDIA T4"

    def nvmlDeviceGetUUID(self, h):
        return f"GPU-{h}"

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=self.util[int(h[1])], memory=3)

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=(4 << 30) * (1 + int(h[1])), total=80 << 30)

    def nvmlDeviceGetTemperature(self, h, sensor):
        assert sensor == self.NVML_TEMPERATURE_GPU
        return 64

    def nvmlDeviceGetPowerUsage(self, h):
        if h == "h1":
            raise NotSupported("power readings not supported")
        return 250_000

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return [
            SimpleNamespace(pid=os.getpid(), usedGpuMemory=1 << 30),
            SimpleNamespace(pid=1, usedGpuMemory=None),
        ]


def test_gpu_reader_with_a_fake_nvml():
    nvml = FakeNvml()
    reader = GpuReader(nvml)
    assert reader.available
    first, second = reader.read()
    assert first == {
        "index": 0,
        "name": "NVIDIA H100 80GB HBM3",
        "uuid": "GPU-h0",
        "utilization_percent": 55.0,
        "memory_used_bytes": float(4 << 30),
        "memory_total_bytes": float(80 << 30),
        "temperature_c": 64.0,
        "power_w": 250.0,
        "process_memory_bytes": float(1 << 30),
    }
    assert second["name"] == "NVIDIA T4" and second["power_w"] is None  # not supported
    reader.close()
    reader.close()
    assert nvml.calls == ["init", "shutdown"]
    assert reader.read() == []


def test_gpu_absent_without_driver_or_package():
    reader = GpuReader(FakeNvml(init_error=OSError("libnvidia-ml.so.1: not found")))
    assert not reader.available and reader.read() == []
    pynvml = load_nvml()
    if pynvml is not None:  # nvidia-ml-py installed, but no driver here: silently absent
        real = GpuReader()
        assert real.read() == [] or real.available
        real.close()


def test_sampler_reports_gpus_from_injected_nvml():
    nvml = FakeNvml()
    sampler = ResourceSampler(interval_s=1.0, nvml=nvml)
    s = sampler.sample()
    assert [d["index"] for d in s["gpus"]] == [0, 1]
    assert s["gpu_utilization_percent"] == 30.0
    assert s["gpu_memory_used_bytes"] == float(12 << 30)
    assert s["gpu_memory_total_bytes"] == float(160 << 30)
    nvml.util = [100, 100]
    assert sampler.sample()["gpu_utilization_percent"] == 100.0
    sampler.stop()
    assert "shutdown" in nvml.calls
    assert "gpus" not in ResourceSampler(gpu=False).sample()


def test_sampler_measures_this_process_and_host():
    sampler = ResourceSampler(interval_s=1.0, gpu=False, host="box")
    before = sampler.sample()
    wall = time.perf_counter()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    wall = time.perf_counter() - wall
    s = sampler.sample()
    assert s["host"] == "box" and s["pid"] == os.getpid() and s["interval_s"] == 1.0
    # 0.3 s of CPU over the wall time the loop took (however loaded the machine is)
    # psutil counts CPU time in clock ticks (10 ms): two readings may each lose one
    assert s["process_cpu_seconds"] - before["process_cpu_seconds"] >= 0.3 - 0.02
    assert 0.8 * 30.0 / wall < s["process_cpu_percent"] <= 100.0 * s["host_cpu_count"]
    assert 0.0 <= s["host_cpu_percent"] <= 100.0
    assert 0 < s["process_rss_bytes"] <= s["host_memory_total_bytes"]
    assert s["host_memory_used_bytes"] <= s["host_memory_total_bytes"]
    assert s["process_threads"] >= 1 and s["process_open_files"] >= 3
    assert s["process_cpu_seconds"] >= 0.3
    assert "net_sends" not in s and "request_count" not in s  # nothing measured yet


def test_per_call_measurements_are_drained_into_the_next_sample():
    sampler = ResourceSampler(gpu=False)
    for ms in range(1, 21):
        sampler.send_timings.append((ms / 1000, f"vigil;dur={ms / 4}"))
    sampler.send_timings.append((0.5, None))  # an old server without the header
    sampler.cpu_times.extend([1_000_000] * 9 + [11_000_000])
    s = sampler.sample()
    assert s["net_sends"] == 21
    assert s["net_rtt_p95_ms"] == 20.0
    assert s["net_server_p50_ms"] == 2.5
    assert s["net_network_p50_ms"] == pytest.approx(7.5)
    assert s["net_network_p95_ms"] == pytest.approx(14.25)
    assert s["request_count"] == 10
    assert s["request_cpu_ms_mean"] == pytest.approx(2.0)
    assert s["request_cpu_ms_p95"] == pytest.approx(11.0)
    again = sampler.sample()
    assert "net_sends" not in again and "request_count" not in again


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("vigil;dur=3.5", 0.0035),
        ("app;dur=1, vigil;desc=x;dur=2", 0.002),
        ("vigil;dur=abc", None),
        ("vigil;dur=-1", None),
        ("other;dur=2", None),
        ("", None),
    ],
)
def test_parse_server_timing(header, seconds):
    assert parse_server_timing(header) == seconds


def test_cpu_timed_measures_thread_cpu_not_sleep():
    from collections import deque

    sink: deque[int] = deque()

    def work(n):
        time.sleep(0.05)
        return sum(range(n))

    timed = cpu_timed(work, sink)
    assert timed(200_000) == sum(range(200_000)) and timed.__name__ == "work"
    assert len(sink) == 1 and 0 < sink[0] < 40_000_000  # CPU time, the 50 ms sleep excluded

    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError):
        cpu_timed(boom, sink)()
    assert len(sink) == 2


def test_sampler_thread_emits_every_interval():
    got: list[dict] = []
    sampler = ResourceSampler(got.append, interval_s=0.05, gpu=False).start()
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    sampler.stop()
    assert len(got) >= 3 and not sampler.running
    assert all("process_cpu_percent" in s for s in got)  # a baseline precedes the first
    with pytest.raises(InvalidParameterError, match="interval_s"):
        ResourceSampler(interval_s=0)


def test_monitor_sends_resource_samples_with_its_version(tmp_path):
    sink = MemoryTransport()
    mon = Monitor(
        "m",
        version="7",
        transport=sink,
        spool_dir=tmp_path,
        schema={"features": []},
        resources=True,
        resource_interval_s=0.05,
        flush_interval_s=3600,
    )
    deadline = time.monotonic() + 5
    while mon.resources.samples < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    mon.log_client_latency(0.25)
    assert mon.close(timeout_s=5)
    assert not mon.resources.running
    assert len(sink.resources) >= 2
    assert {s["version"] for s in sink.resources} == {"7"}
    assert all(s["pid"] == os.getpid() for s in sink.resources)


def test_cpu_time_is_opt_in_and_leaves_the_default_hot_path_alone(tmp_path):
    sink = MemoryTransport()
    plain = Monitor("m", transport=sink, spool_dir=tmp_path / "a")

    def predict(x):
        return x

    assert plain.track(predict).__wrapped__ is predict  # no extra layer by default
    plain.close()
    with pytest.raises(InvalidParameterError, match="resources=True"):
        Monitor("m", transport=sink, spool_dir=tmp_path / "b", cpu_time=True)
    with pytest.raises(InvalidParameterError, match="resources=True"):
        Monitor("m", transport=sink, spool_dir=tmp_path / "c").log_client_latency(0.1)
    mon = Monitor(
        "m",
        transport=sink,
        spool_dir=tmp_path / "d",
        resources=True,
        resource_interval_s=3600,
        cpu_time=True,
    )
    tracked = mon.track(predict)
    assert tracked.__wrapped__ is not predict and tracked.__wrapped__.__wrapped__ is predict
    for i in range(5):
        assert tracked(i) == i
    s = mon.resources.sample()
    assert s["request_count"] == 5
    for bad in (-1, float("nan"), float("inf"), "1", True):
        with pytest.raises(InvalidParameterError, match="latency_s"):
            mon.log_client_latency(bad)
    mon.log_client_latency(0.2)
    assert mon.resources.sample()["client_latency_p50_ms"] == 200.0

    async def apredict(x):
        return x

    assert mon.track(apredict).__wrapped__ is apredict  # coroutines: CPU time not attributed
    mon.close()


def test_sampler_restarts_in_a_forked_child(tmp_path):
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    got: list[tuple[int, int]] = []
    lock = threading.Lock()
    read, write = os.pipe()

    def emit(s):
        with lock:
            got.append((s["pid"], os.getpid()))

    sampler = ResourceSampler(emit, interval_s=0.05, gpu=False).start()
    pid = os.fork()
    if pid == 0:  # child: report whether it samples itself, then leave at once
        ok = False
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not ok:
            time.sleep(0.02)
            with lock:
                ok = any(p == own == os.getpid() for p, own in got)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    os.close(read)
    sampler.stop()
    assert answer == b"1"


def test_local_mode_stores_samples(db_url, tmp_path):
    import sqlalchemy as sa

    mon = Monitor(
        "local",
        version="3",
        endpoint=db_url,
        spool_dir=tmp_path,
        schema={"features": [{"name": "x", "kind": "numeric"}]},
        resources=True,
        resource_interval_s=0.05,
        flush_interval_s=0.05,
    )
    mon.log_prediction({"x": 1.0}, 1)
    deadline = time.monotonic() + 10
    while mon.resources.samples < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mon.close(timeout_s=10)
    assert mon.stats["rejected"] == 0
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT version, pid, process_rss_bytes FROM resource_samples")
            ).all()
    finally:
        engine.dispose()
    assert len(rows) >= 2
    assert {(r.version, r.pid) for r in rows} == {("3", os.getpid())}
    assert all(r.process_rss_bytes > 0 for r in rows)


def test_samples_wait_for_the_model_to_be_registered(tmp_path):
    sink = MemoryTransport()
    mon = Monitor(
        "fresh",
        transport=sink,
        spool_dir=tmp_path,
        resources=True,
        resource_interval_s=0.1,
        flush_interval_s=0.02,
    )
    deadline = time.monotonic() + 5
    while mon.resources.samples < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mon.flush(timeout_s=5)
    assert sink.resources == [] and mon.stats["rejected"] == 0  # held, not rejected
    mon.log_prediction({"x": 1.0}, 0)  # registers the model (schema inferred)
    assert mon.flush(timeout_s=5)
    deadline = time.monotonic() + 5
    while len(sink.resources) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mon.close(timeout_s=5)
    assert len(sink.resources) >= 3 and mon.stats["rejected"] == 0
    assert "fresh" in sink.models
