"""The minute fold's share of ``bench/ingest/profile_ingest.py``: CPU per record.

Runs that harness (SQLite, JSON bodies, a fold every 8 batches) with the store's
``fold_pending`` timed on its own, so a change to the profile's sketches can be read
without the noise of the rest of the ingest path. Compare two checkouts in one session::

    PYTHONPATH=<checkout> python bench/profile/fold_stage.py [--batches 60]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest"))
import profile_ingest  # the ingest harness, found through the path above

import vigil.store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=60)
    args = ap.parse_args()
    spent = [0.0]
    open_store = vigil.store.open_store

    def timed_store(*a: Any, **k: Any) -> Any:
        store = open_store(*a, **k)
        fold = store.fold_pending

        def timed(*fa: Any, **fk: Any) -> Any:
            start = time.process_time()
            try:
                return fold(*fa, **fk)
            finally:
                spent[0] += time.process_time() - start

        store.fold_pending = timed
        return store

    vigil.store.open_store = timed_store  # the harness imports it when it runs
    batches = profile_ingest.make_batches(args.batches)
    bodies = [gzip.compress(orjson.dumps({"records": b}), 1) for b in batches]
    total = profile_ingest.vigil_us(bodies, False, None, 8, None)
    n = (len(bodies) - 1) * profile_ingest.BATCH
    print(f"ingest + fold {total:.2f} us/record, of which the fold {spent[0] / n * 1e6:.2f}")


if __name__ == "__main__":
    main()
