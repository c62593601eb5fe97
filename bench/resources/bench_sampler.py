"""Cost of vigil's resource sampler, against a bare loop that wakes on the same schedule.

Three measurements, all of this process's CPU time (``time.process_time``):

1. per sample: ``ResourceSampler.sample()`` called back to back (psutil reads of the
   process and host, NVML when present, the per-call drains);
2. the sampler thread at ``--interval`` for ``--seconds`` against a bare thread that only
   waits on the same ``Event.wait(interval)`` schedule: the difference, per second of wall
   time, is the share of one core the sampling costs;
3. CPU-time attribution (``cpu_time=True``): a tracked call with and without the two
   ``thread_time_ns`` reads.

Usage: ``python bench/resources/bench_sampler.py [--interval 1.0] [--seconds 30]``
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections import deque

from vigil.sdk.resources import ResourceSampler, cpu_timed


def per_sample(n: int) -> float:
    sampler = ResourceSampler(interval_s=1.0)
    sampler.sample()
    t0 = time.process_time()
    for _ in range(n):
        sampler.sample()
    cost = (time.process_time() - t0) / n
    sampler.stop()
    return cost


def bare_thread(interval: float, seconds: float) -> float:
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval):
            pass

    thread = threading.Thread(target=run, daemon=True)
    c0 = time.process_time()
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join()
    return time.process_time() - c0


def sampler_thread(interval: float, seconds: float) -> tuple[float, int]:
    got: list[dict] = []
    c0 = time.process_time()
    sampler = ResourceSampler(got.append, interval_s=interval).start()
    time.sleep(seconds)
    sampler.stop()
    return time.process_time() - c0, len(got)


def cpu_attribution(calls: int, loops: int) -> tuple[float, float]:
    def predict(x: int) -> int:
        return x + 1

    sink: deque[int] = deque(maxlen=100_000)
    timed = cpu_timed(predict, sink)
    bare, wrapped = [], []
    for _ in range(loops):
        for fn, out in ((predict, bare), (timed, wrapped)):
            t0 = time.perf_counter_ns()
            for i in range(calls):
                fn(i)
            out.append((time.perf_counter_ns() - t0) / calls)
    return statistics.median(bare), statistics.median(wrapped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()

    cost = per_sample(args.samples)
    print(
        f"1. one sample: {cost * 1e6:,.0f} us of CPU "
        f"-> {cost / args.interval * 100:.3f} % of one core at a {args.interval:g} s interval"
    )

    bare = bare_thread(args.interval, args.seconds)
    sampled, n = sampler_thread(args.interval, args.seconds)
    share = (sampled - bare) / args.seconds * 100
    print(
        f"2. {args.seconds:g} s at {args.interval:g} s: bare loop {bare * 1e3:.1f} ms CPU, "
        f"sampler {sampled * 1e3:.1f} ms CPU ({n} samples) -> "
        f"{share:.3f} % of one core (target < 1 %)"
    )

    bare_ns, timed_ns = cpu_attribution(2000, 200)
    print(
        f"3. cpu_time=True: call {bare_ns:.0f} ns bare, {timed_ns:.0f} ns with the thread "
        f"CPU clock -> +{timed_ns - bare_ns:.0f} ns per tracked call"
    )


if __name__ == "__main__":
    main()
