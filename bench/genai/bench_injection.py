"""Precision and recall of the prompt-injection score on the labelled set
(tests/genai/data/injection_labelled.tsv), per language, and its cost per text; with
``--baseline FILE`` (an older ``vigil/audit/injection.py``, e.g. from
``git show 8da2fd4:vigil/audit/injection.py > /tmp/injection_before.py``) the same for it.

    python bench/genai/bench_injection.py [--baseline /tmp/injection_before.py]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vigil.audit.injection import score_injection

DATA = Path(__file__).resolve().parents[2] / "tests" / "genai" / "data" / "injection_labelled.tsv"


def _rows() -> list[tuple[int, str, str]]:
    return [
        (int(a), b, c)
        for a, b, c in (
            line.split("\t", 2)
            for line in DATA.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")
        )
    ]


def _report(label: str, score: Callable[[str], Any], rows: list[tuple[int, str, str]]) -> None:
    t0 = time.perf_counter()
    flagged = [score(text).flagged for _, _, text in rows]
    us = 1e6 * (time.perf_counter() - t0) / len(rows)
    print(f"{label}: {us:.0f} µs/text")
    for lang in ("all", "en", "other"):
        pick = [i for i, r in enumerate(rows) if lang == "all" or (r[1] == "en") == (lang == "en")]
        tp = sum(rows[i][0] and flagged[i] for i in pick)
        fp = sum(not rows[i][0] and flagged[i] for i in pick)
        pos = sum(rows[i][0] for i in pick)
        precision = tp / (tp + fp) if tp + fp else float("nan")
        print(
            f"  {lang:6s} positives {pos:3d}  precision {precision:.3f}  "
            f"recall {tp / pos:.3f}  false positives {fp}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", type=Path)
    args = ap.parse_args()
    rows = _rows()
    print(f"{sum(r[0] for r in rows)} injections, {sum(1 - r[0] for r in rows)} benign")
    if args.baseline:
        spec = importlib.util.spec_from_file_location("injection_before", args.baseline)
        assert spec is not None
        assert spec.loader is not None
        before = importlib.util.module_from_spec(spec)
        sys.modules["injection_before"] = before  # dataclasses look the module up
        spec.loader.exec_module(before)
        _report("before", before.score_injection, rows)
    _report("now", score_injection, rows)


if __name__ == "__main__":
    main()
