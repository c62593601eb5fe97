"""NVIDIA GPUs through NVML (``nvidia-ml-py``, the ``gpu`` extra), silently absent otherwise.

:class:`GpuReader` initialises NVML once and reads, per device: utilisation, memory used
and total, temperature, power and the memory this process holds on it. Without the
package, without a driver or without devices it reads ``[]`` and never raises; a metric
a device does not support is ``None``. Tests pass a fake NVML module object.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

log = logging.getLogger("vigil.sdk")


def load_nvml() -> Any | None:
    """The ``pynvml`` module of nvidia-ml-py, or None when it is not installed."""
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


class GpuReader:
    """Per-device GPU metrics from NVML.

    Args:
        nvml: an NVML binding with pynvml's function names; default the installed
            ``pynvml``. Tests inject a fake.

    Examples:
        >>> class FakeNvml:
        ...     NVML_TEMPERATURE_GPU = 0
        ...     def nvmlInit(self): pass
        ...     def nvmlShutdown(self): pass
        ...     def nvmlDeviceGetCount(self): return 1
        ...     def nvmlDeviceGetHandleByIndex(self, i): return i
        ...     def nvmlDeviceGetName(self, h): return b"Fake GPU"
        ...     def nvmlDeviceGetUUID(self, h): return "GPU-0"
        ...     def nvmlDeviceGetUtilizationRates(self, h):
        ...         return type("U", (), {"gpu": 37, "memory": 10})()
        ...     def nvmlDeviceGetMemoryInfo(self, h):
        ...         return type("M", (), {"used": 2 << 30, "total": 16 << 30})()
        ...     def nvmlDeviceGetTemperature(self, h, sensor): return 61
        ...     def nvmlDeviceGetPowerUsage(self, h): return 71500
        ...     def nvmlDeviceGetComputeRunningProcesses(self, h): return []
        >>> reader = GpuReader(FakeNvml())
        >>> dev = reader.read()[0]
        >>> dev["name"], dev["utilization_percent"], dev["memory_used_bytes"], dev["power_w"]
        ('Fake GPU', 37.0, 2147483648.0, 71.5)
        >>> reader.close()
    """

    def __init__(self, nvml: Any | None = None) -> None:
        self._nvml = nvml if nvml is not None else load_nvml()
        self._handles: list[tuple[int, Any, str | None, str | None]] = []
        self.available = False
        if self._nvml is None:
            return
        try:
            self._nvml.nvmlInit()
        except Exception as exc:  # no driver, no library, no permission: no GPU metrics
            log.debug("vigil: NVML unavailable (%s); GPU metrics off", exc)
            self._nvml = None
            return
        try:
            for i in range(int(self._nvml.nvmlDeviceGetCount())):
                handle = self._nvml.nvmlDeviceGetHandleByIndex(i)
                name = _text(self._try(self._nvml.nvmlDeviceGetName, handle))
                uuid = _text(self._try(self._nvml.nvmlDeviceGetUUID, handle))
                self._handles.append((i, handle, name, uuid))
        except Exception as exc:
            log.debug("vigil: listing GPUs failed (%s); GPU metrics off", exc)
            self.close()
            return
        self.available = bool(self._handles)

    @staticmethod
    def _try(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception:  # NVMLError_NotSupported and friends: this metric is absent
            return None

    def read(self) -> list[dict[str, Any]]:
        """One dict per device; ``[]`` when NVML is unavailable."""
        nvml = self._nvml
        if nvml is None or not self._handles:
            return []
        pid = os.getpid()
        out = []
        for index, handle, name, uuid in self._handles:
            util = self._try(nvml.nvmlDeviceGetUtilizationRates, handle)
            mem = self._try(nvml.nvmlDeviceGetMemoryInfo, handle)
            temp = self._try(
                nvml.nvmlDeviceGetTemperature, handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
            )
            power = self._try(nvml.nvmlDeviceGetPowerUsage, handle)  # milliwatts
            procs = self._try(nvml.nvmlDeviceGetComputeRunningProcesses, handle) or ()
            own = [
                p.usedGpuMemory
                for p in procs
                if getattr(p, "pid", None) == pid
                and isinstance(getattr(p, "usedGpuMemory", None), int)
            ]
            out.append(
                {
                    "index": index,
                    "name": name,
                    "uuid": uuid,
                    "utilization_percent": _float(getattr(util, "gpu", None)),
                    "memory_used_bytes": _float(getattr(mem, "used", None)),
                    "memory_total_bytes": _float(getattr(mem, "total", None)),
                    "temperature_c": _float(temp),
                    "power_w": None if power is None else float(power) / 1000.0,
                    "process_memory_bytes": float(sum(own)) if own else None,
                }
            )
        return out

    def close(self) -> None:
        """Shut NVML down (idempotent)."""
        nvml, self._nvml, self._handles, self.available = self._nvml, None, [], False
        if nvml is not None:
            self._try(nvml.nvmlShutdown)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _float(value: Any) -> float | None:
    return None if value is None or isinstance(value, bool) else float(value)


def summarise(devices: list[dict[str, Any]]) -> dict[str, float | None]:
    """Mean utilisation and summed memory over devices, for a sample's top-level fields.

    Examples:
        >>> summarise([{"utilization_percent": 20.0, "memory_used_bytes": 1.0,
        ...             "memory_total_bytes": 4.0},
        ...            {"utilization_percent": 40.0, "memory_used_bytes": 2.0,
        ...             "memory_total_bytes": 4.0}]) == {"gpu_utilization_percent": 30.0,
        ...     "gpu_memory_used_bytes": 3.0, "gpu_memory_total_bytes": 8.0}
        True
    """
    utils = [d["utilization_percent"] for d in devices if d["utilization_percent"] is not None]
    used = [d["memory_used_bytes"] for d in devices if d["memory_used_bytes"] is not None]
    total = [d["memory_total_bytes"] for d in devices if d["memory_total_bytes"] is not None]
    return {
        "gpu_utilization_percent": sum(utils) / len(utils) if utils else None,
        "gpu_memory_used_bytes": float(sum(used)) if used else None,
        "gpu_memory_total_bytes": float(sum(total)) if total else None,
    }
