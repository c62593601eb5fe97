"""Columnar (Arrow IPC) prediction batches: the default with pyarrow off loopback, and
the same store as JSON.

The same records go to a real `vigil server` once as Arrow tables
(``HttpTransport(columnar=True)``: the server is on loopback, where the default is JSON)
and once as JSON, under two model names; the rows and the minute rollups the server
stores must be identical.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from support.polling import wait_until
from support.servers import free_port, start_server_process, wait_ready

from vigil.sdk import Monitor
from vigil.sdk.columnar import is_columnar, records_from_columnar, split_columnar
from vigil.sdk.http import HttpTransport
from vigil.sdk.transport import SendError

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class Spy(HttpTransport):
    """A real HttpTransport that notes which bodies were columnar; ``refuse_arrow`` (a status)
    makes it answer Arrow bodies for the server as one older than them would (415) or one
    that cannot read this one (400), with nothing sent."""

    def __init__(self, *args: Any, refuse_arrow: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refuse_arrow = refuse_arrow
        self.down = False  # while true, deliveries fail as if the server were unreachable
        self.kinds: list[tuple[str, bool]] = []

    def send(self, model: str, kind: str, body: bytes) -> dict[str, Any]:
        self.kinds.append((kind, is_columnar(body)))
        if self.down:
            raise SendError("connection refused", status=None)
        if self.refuse_arrow and is_columnar(body):
            raise SendError(f"{self.refuse_arrow}: not this body", status=self.refuse_arrow)
        return super().send(model, kind, body)


def _features(rng: random.Random, i: int) -> dict[str, Any]:
    row: dict[str, Any] = {f"x{k}": rng.gauss(k, 1.0) for k in range(20)}
    row["count"] = rng.randrange(100)
    row["plan"] = rng.choice(["free", "pro", "team"])
    row["active"] = rng.random() < 0.5
    row["note"] = None if i % 7 else "checked"
    row["age"] = rng.randrange(18, 90)
    return row


def _log_all(mon: Monitor, odd: bool) -> None:
    """600 predictions over 10 minutes: errors, subjects, probabilities, labels, and with
    ``odd`` a few records that do not fit the table (an int where floats are, an extra
    input)."""
    rng = random.Random(7)
    for i in range(600):
        features = _features(rng, i)
        if odd and i % 97 == 5:
            features["x3"] = 3  # an int in a float column: this record goes as JSON
        if odd and i % 131 == 9:
            features["extra"] = "yes"  # an input the others lack: JSON too
        error = "ValueError: bad" if i % 50 == 0 else None
        mon.log_prediction(
            features,
            i % 2,
            proba=[0.25, 0.75] if i % 3 else None,
            latency_s=0.001 * (i % 17),
            error=error,
            error_type="ValueError" if error else None,
            subject_id=f"u{i % 11}" if i % 5 == 0 else None,
            id=f"p{i:04d}",
            ts=T0 + i,
        )
        if i % 4 == 0:
            mon.log_label(f"p{i:04d}", i % 2, ts=T0 + i + 30)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("columnar")
    db = root / "vigil.db"
    port = free_port()
    proc = start_server_process(f"sqlite:///{db}", port, home=root)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc=proc)
        yield url, db
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _rows(conn: sqlite3.Connection, model: str, sql: str) -> list[tuple[Any, ...]]:
    return conn.execute(sql, (model,)).fetchall()


_PREDICTIONS = (
    "SELECT p.id, p.version, p.ts, p.latency_s, p.error, p.error_type, "
    "p.subject_id, p.inputs, p.outputs, p.proba FROM predictions p "
    "JOIN models m ON m.id = p.model_id WHERE m.name = ? ORDER BY p.id"
)
_ROLLUPS = (
    "SELECT r.version, r.minute, r.count, r.errors, r.latency_count, r.latency_sum, "
    "r.error_types, r.profile FROM rollups r JOIN models m ON m.id = r.model_id "
    "WHERE m.name = ? ORDER BY r.version, r.minute"
)
_PENDING = (
    "SELECT count(*) FROM pending_batches b JOIN models m ON m.id = b.model_id WHERE m.name = ?"
)
_LABELS = (
    "SELECT l.prediction_id, l.actual, l.ts FROM labels l JOIN models m "
    "ON m.id = l.model_id WHERE m.name = ? ORDER BY l.prediction_id"
)


@pytest.mark.integration
@pytest.mark.parametrize("odd", [False, True], ids=["uniform", "with-odd-records"])
def test_arrow_and_json_bodies_store_the_same_rows_and_rollups(server, tmp_path, odd):
    url, db = server
    arrow = Spy(url, columnar=True)  # the default off loopback; forced here
    json = Spy(url, columnar=False)
    names = {arrow: f"by-arrow-{odd}", json: f"by-json-{odd}"}
    for transport, name in names.items():
        mon = Monitor(
            name,
            version="3",
            endpoint=url,
            transport=transport,
            spool_dir=tmp_path / "spool",
            flush_interval_s=3600,
            batch_size=250,
            task="binary_classification",
        )
        assert mon._sender.columnar is (transport is arrow)
        _log_all(mon, odd)
        assert mon.flush(60)
        stats = mon.stats
        assert mon.close(30)
        assert (stats["sent"], stats["rejected"], stats["internal_errors"]) == (750, 0, 0)
    assert ("predictions", True) in arrow.kinds  # Arrow went over the wire ...
    # ... beside JSON for the records that do not fit the table, and only for them
    assert (("predictions", False) in arrow.kinds) is odd
    assert not any(columnar for _, columnar in json.kinds)

    conn = sqlite3.connect(db)
    by_arrow, by_json = names[arrow], names[json]
    for model in names.values():
        wait_until(lambda m=model: _rows(conn, m, _PENDING)[0][0] == 0, timeout_s=120)
    rows = _rows(conn, by_arrow, _PREDICTIONS)
    assert len(rows) == 600
    assert rows == _rows(conn, by_json, _PREDICTIONS)
    assert _rows(conn, by_arrow, _LABELS) == _rows(conn, by_json, _LABELS)
    rollups = _rows(conn, by_arrow, _ROLLUPS)
    assert sum(r[2] for r in rollups) == 600 and len(rollups) == 10
    if not odd:  # the same batches: the same rollups, byte for byte (sketches included)
        assert rollups == _rows(conn, by_json, _ROLLUPS)
    else:  # the odd records came in their own batch: profiles merged in another order
        other = _rows(conn, by_json, _ROLLUPS)
        assert [r[:5] + r[6:7] for r in rollups] == [r[:5] + r[6:7] for r in other]
        assert [r[5] for r in rollups] == pytest.approx([r[5] for r in other], rel=1e-12)
    schemas = dict(
        conn.execute("SELECT name, schema FROM models WHERE name IN (?, ?)", (by_arrow, by_json))
    )
    assert schemas[by_arrow] == schemas[by_json]
    conn.close()


@pytest.mark.integration
@pytest.mark.parametrize("status", [415, 400])
def test_a_server_that_refuses_arrow_gets_json_and_loses_nothing(server, tmp_path, status):
    url, db = server
    model = f"refuses-arrow-{status}"
    old = Spy(url, refuse_arrow=status, columnar=True)
    with Monitor(
        model, endpoint=url, transport=old, spool_dir=tmp_path / "spool", flush_interval_s=3600
    ) as mon:
        for i in range(40):
            mon.log_prediction({"x": float(i), "y": "a"}, 1, id=f"r{i}", ts=T0 + i)
        assert mon.flush(60)
        # a 415 (no Arrow on that server) turns Arrow off for good; a 400 for that batch
        assert mon._sender.columnar is (status == 400)
        for i in range(40, 60):
            mon.log_prediction({"x": float(i), "y": "a"}, 1, id=f"r{i}", ts=T0 + i)
        assert mon.flush(60)
        assert mon.stats["sent"] == 60 and mon.stats["rejected"] == 0
    arrow_then_json = [("predictions", True), ("predictions", False)]
    assert old.kinds == arrow_then_json + (
        arrow_then_json if status == 400 else [("predictions", False)]
    )
    conn = sqlite3.connect(db)
    wait_until(
        lambda: (
            _rows(
                conn,
                model,
                "SELECT count(*) FROM predictions p JOIN models m "
                "ON m.id = p.model_id WHERE m.name = ?",
            )[0][0]
            == 60
        ),
        timeout_s=60,
    )
    conn.close()


@pytest.mark.integration
def test_columnar_batches_wait_in_the_spool_and_are_replayed_as_arrow(server, tmp_path):
    url, db = server
    spy = Spy(url, columnar=True)
    spy.down = True
    with Monitor(
        "spooled-arrow",
        endpoint=url,
        transport=spy,
        spool_dir=tmp_path / "spool",
        flush_interval_s=3600,
        max_retries=0,
        backoff_s=0.001,
        max_backoff_s=0.01,
    ) as mon:
        for i in range(30):
            mon.log_prediction({"x": float(i), "plan": "pro"}, i % 2, id=f"s{i}", ts=T0 + i)
        assert not mon.flush(30)  # undeliverable: spooled
        assert is_columnar(mon._sender.spool.oldest().body)
        spy.down = False
        assert mon.flush(60)  # replayed from the spool
        assert mon.stats["replayed"] == 30 and mon.stats["spool_files"] == 0
    assert spy.kinds[-1] == ("predictions", True)
    conn = sqlite3.connect(db)
    wait_until(
        lambda: (
            _rows(
                conn,
                "spooled-arrow",
                "SELECT count(*) FROM predictions p "
                "JOIN models m ON m.id = p.model_id WHERE m.name = ?",
            )[0][0]
            == 30
        ),
        timeout_s=60,
    )
    conn.close()


def test_arrow_is_the_default_off_loopback_when_pyarrow_is_installed(tmp_path):
    remote = HttpTransport("https://vigil.example.com")
    local = HttpTransport("http://127.0.0.1:8765")
    assert remote.columnar is True and local.columnar is False
    assert HttpTransport("http://127.0.0.1:8765", columnar=True).columnar is True
    for transport, expected in ((remote, True), (local, False)):
        mon = Monitor("m", transport=transport, spool_dir=tmp_path, flush_interval_s=3600)
        assert mon._sender.columnar is expected
        mon.close(0)


def _rec(i: int, **over: Any) -> dict[str, Any]:
    rec = {
        "id": f"r{i}",
        "version": "1",
        "ts": T0 + i,
        "latency_s": 0.5,
        "inputs": {"a": float(i), "b": "s", "c": i, "d": True},
        "outputs": i % 2,
    }
    rec.update(over)
    return rec


def test_records_that_do_not_type_uniformly_are_left_for_json():
    recs = [_rec(i) for i in range(6)]
    recs[1]["inputs"] = {**recs[1]["inputs"], "a": 1}  # int among floats
    recs[2]["inputs"] = {"a": 2.0, "b": "s"}  # fewer inputs
    recs[3]["inputs"] = {**recs[3]["inputs"], "b": {"nested": 1}}  # a dict value
    recs[4]["outputs"] = "yes"  # a str among ints
    body, rest = split_columnar(recs)
    assert [r["id"] for r in rest] == ["r1", "r2", "r3", "r4"]
    decoded = records_from_columnar(body)
    assert decoded == [recs[0], recs[5]]  # values, types and absent fields as they were


def test_nulls_and_all_null_fields_keep_their_json_meaning():
    recs = [
        _rec(0, error="E", error_type="E", proba=[0.1, 0.9]),
        _rec(1, outputs=None, latency_s=None),
    ]
    recs[1]["inputs"]["b"] = None
    body, rest = split_columnar(recs)
    assert rest == []
    table = pa.ipc.open_stream(body).read_all()
    assert "subject_id" not in table.column_names  # null everywhere: left out
    decoded = records_from_columnar(body)
    assert decoded[0] == recs[0]
    assert decoded[1] == {k: v for k, v in recs[1].items() if v is not None}


def test_values_arrow_cannot_hold_fall_back_to_json():
    recs = [_rec(0), _rec(1)]
    recs[1]["inputs"]["c"] = 2**70  # beyond int64
    body, rest = split_columnar(recs)
    assert body is None and rest == recs
    assert split_columnar([_rec(0, inputs={})]) == (None, [_rec(0, inputs={})])
