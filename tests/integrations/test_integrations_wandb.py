"""W&B in offline mode: log, finish, then read the run's own files back."""

from __future__ import annotations

import json
import struct
import time

import pytest

pytest.importorskip("wandb", reason="needs the 'wandb' extra")

from vigil.integrations.wandb import WandbLogger

pytestmark = pytest.mark.integration


def _records(path):
    """Records of a .wandb file (LevelDB log format: 32 KiB blocks, 7-byte record headers)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, out, buf = 7, 32768, [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if length == 0 and kind == 0:
            pos += left
            continue
        if pos + 7 + length > len(data):  # a record still being written
            break
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind in (1, 4):  # FULL or LAST
            record = pb.Record()
            record.ParseFromString(buf)
            out.append(record)
            buf = b""
    return out


def _items(record, field):
    return {"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in field(record)}


def test_window_metrics_drift_and_evaluation_offline(rollup_store, tmp_path, monkeypatch):
    import numpy as np
    import pandas as pd

    import vigil
    from vigil.engine.windows.metrics import window_metrics

    monkeypatch.setenv("WANDB_SILENT", "true")
    base = rollup_store.base_minute
    model = rollup_store.get_model("churn")
    metrics = window_metrics(rollup_store, model, start=base, end=base + 120, step=60, version="1")
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"age": rng.normal(size=400), "plan": rng.choice(["a", "b"], 400)})
    cur = pd.DataFrame({"age": rng.normal(1.0, 1, 400), "plan": rng.choice(["a", "b"], 400)})
    report = vigil.detect_drift(ref, cur)
    evaluation = {
        "model": "churn",
        "version": "1",
        "dataset": "golden",
        "n_rows": 50,
        "status": "succeeded",
        "id": 7,
        "metrics": {"accuracy": 0.9, "f1": 0.8},
        "latency": {"mean_s": 0.01, "p95_s": 0.02},
    }
    wb = WandbLogger("vigil-test", mode="offline", dir=str(tmp_path), name="nightly")
    assert wb.log_window_metrics(metrics)
    assert wb.log_drift(report)
    assert wb.log_evaluation(evaluation)
    wb.finish()
    assert wb.stats == {"logged": 4, "errors": 0}
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    path = next(run_dir.glob("run-*.wandb"))
    deadline = time.monotonic() + 30
    while True:  # wandb-core may still be writing the log when finish() returns
        records = _records(path)
        if any(r.WhichOneof("record_type") == "exit" for r in records):
            break
        assert time.monotonic() < deadline, "the run file never got its exit record"
        time.sleep(0.2)
    history = [
        _items(r.history, lambda h: h.item)
        for r in records
        if r.WhichOneof("record_type") == "history"
    ]
    windows = [h for h in history if "churn/1/count" in h]
    assert [(h["window_ts"], h["churn/1/count"], h["churn/1/errors"]) for h in windows] == [
        (base, 100, 10)
    ]
    assert windows[0]["churn/1/latency_p95_s"] == pytest.approx(0.095, abs=0.003)
    drift = next(h for h in history if "drift/path" in h)
    assert drift["drift/dataset_drift"] == 1.0 and drift["drift/drifted_columns"] >= 1
    table = json.loads((run_dir / "files" / drift["drift/path"]).read_text())
    assert table["columns"][:2] == ["column", "method"]
    assert {row[0] for row in table["data"]} == {"age", "plan"}
    age = next(row for row in table["data"] if row[0] == "age")
    assert age[1] == "ks" and age[table["columns"].index("drifted")] is True
    summary = {}
    for r in records:
        if r.WhichOneof("record_type") == "summary":
            summary.update(_items(r.summary, lambda s: s.update))
    assert summary["eval/accuracy"] == 0.9 and summary["eval/latency/p95_s"] == 0.02
    assert summary["eval/vigil.status"] == "succeeded"


def test_a_failing_wandb_is_counted_not_raised(tmp_path, monkeypatch):
    wb = WandbLogger("vigil-test", mode="offline", dir=str(tmp_path))
    monkeypatch.setattr(type(wb), "run", property(lambda self: 1 / 0))
    assert wb.log_window_metrics({"model": "m", "series": [{"ts": 0, "count": 1}]}) is False
    assert wb.stats["errors"] == 1
