"""Print what NVML reports through vigil's GPU path (run on a machine with an NVIDIA GPU).

Exercises the real ``pynvml`` (``pip install -e ".[gpu]"``) through
:class:`vigil.sdk.gpu.GpuReader` and :class:`vigil.sdk.resources.ResourceSampler`, with
some load on device 0 when PyTorch or CuPy is installed, and exits non-zero when NVML is
unavailable or a reading is impossible (utilisation outside 0-100, used > total).

Usage: ``python bench/resources/gpu_check.py [--seconds 5]``
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from vigil.sdk.gpu import GpuReader, load_nvml
from vigil.sdk.resources import ResourceSampler


def _load(seconds: float) -> str:
    """Keep device 0 busy for ``seconds`` in a thread, with whatever library is installed."""
    try:
        import torch

        if torch.cuda.is_available():

            def run() -> None:
                a = torch.randn(4096, 4096, device="cuda")
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    a = (a @ a).clamp_(-1, 1)
                torch.cuda.synchronize()

            threading.Thread(target=run, daemon=True).start()
            return "torch matmul on cuda:0"
    except ImportError:
        pass
    try:
        import cupy

        def run_cupy() -> None:
            a = cupy.random.rand(4096, 4096, dtype=cupy.float32)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                a = cupy.tanh(a @ a)
            cupy.cuda.Device(0).synchronize()

        threading.Thread(target=run_cupy, daemon=True).start()
        return "cupy matmul on device 0"
    except ImportError:
        return "none (install torch or cupy to load the GPU)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    nvml = load_nvml()
    print(f"pynvml: {'installed' if nvml else 'missing (pip install nvidia-ml-py)'}")
    reader = GpuReader()
    print(f"NVML available: {reader.available}")
    if not reader.available:
        return 1
    if nvml is not None:
        print(f"driver: {nvml.nvmlSystemGetDriverVersion()}")
    print(f"load: {_load(args.seconds)}")
    sampler = ResourceSampler(interval_s=1.0)
    s = sampler.sample()
    ok = True
    peak = 0.0
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        time.sleep(1.0)
        s = sampler.sample()
        peak = max(peak, s.get("gpu_utilization_percent") or 0.0)
        for dev in s.get("gpus", []):
            print(json.dumps(dev))
            util, used, total = (
                dev["utilization_percent"],
                dev["memory_used_bytes"],
                dev["memory_total_bytes"],
            )
            if util is not None and not 0 <= util <= 100:
                ok = False
            if used is not None and total is not None and used > total:
                ok = False
    print(
        f"summary fields of the last sample: "
        f"{ {k: v for k, v in s.items() if k.startswith('gpu_')} }"
    )
    print(f"peak mean utilisation: {peak:.0f} %; readings {'valid' if ok else 'INVALID'}")
    sampler.stop()
    reader.close()
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
