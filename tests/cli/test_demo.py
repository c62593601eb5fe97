"""`vigil demo` end to end: a real server, a real model, data in ./vigil-data.

Every section the demo promises is checked through the HTTP API while it runs.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from support.servers import free_port

from vigil.cli.demo import BACKFILL_MINUTES, BACKFILL_PER_MINUTE, MARKER

BACKFILL = BACKFILL_MINUTES * BACKFILL_PER_MINUTE  # labelled rows written before the run


def _demo(tmp_path, *args: str, port: int | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vigil.cli.main", "demo", "--port", str(port or free_port()), *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _sent(out: str) -> tuple[int, int, int]:
    """(predictions, failures, labels) from the demo's last line."""
    found = re.search(r"Sent (\d+) predictions \((\d+) failed\) and (\d+) labels", out)
    assert found, out
    return int(found[1]), int(found[2]), int(found[3])


def _wait_for_predictions(tmp_path, deadline_s: float = 180.0) -> None:
    """Poll the demo's database until it holds a live prediction, past the backfilled
    history (start-up is slow when loaded)."""
    db_path = tmp_path / "vigil-data" / "vigil.db"
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if db_path.exists():
            try:
                with sqlite3.connect(db_path, timeout=5) as db:
                    if db.execute("SELECT count(*) FROM predictions").fetchone()[0] > BACKFILL:
                        return
            except sqlite3.OperationalError:  # tables not made yet, or the writer holds it
                pass
        time.sleep(0.2)
    raise AssertionError(f"the demo stored no prediction in {deadline_s} s")


@pytest.mark.integration
@pytest.mark.slow  # about 14 s on a loaded 2-core machine
def test_demo_streams_predictions_and_late_labels(tmp_path):
    proc = _demo(
        tmp_path,
        "--duration",
        "8",
        "--label-delay",
        "2",
        "--rate",
        "300",
        "--drift-after",
        "3",
        "--error-rate",
        "0.03",
    )
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out
    assert "held-out accuracy" in out
    assert "predictions/s" in out
    assert "latency p50 / p95 / p99" in out
    assert "drifted features" in out
    assert "income" in out  # the injected drift is found against the training reference
    sent, failed, labelled = _sent(out)
    db = sqlite3.connect(tmp_path / "vigil-data" / "vigil.db")
    stored, errors = db.execute(
        "SELECT count(*), sum(error IS NOT NULL) FROM predictions"
    ).fetchone()
    joined = db.execute(
        "SELECT count(*) FROM labels l JOIN predictions p ON p.id = l.prediction_id"
    ).fetchone()[0]
    # however fast the loaded machine let the demo send, everything sent is stored
    assert sent > 0 and stored == sent + BACKFILL and errors == failed
    assert joined == labelled + BACKFILL and 0 < labelled < sent  # labels trail the run


@pytest.mark.integration
def test_demo_stops_cleanly_on_ctrl_c_and_keeps_data_with_keep(tmp_path):
    (tmp_path / "vigil-data").mkdir()
    (tmp_path / "vigil-data" / "notes.txt").write_text("mine")
    proc = _demo(tmp_path, "--keep")
    _wait_for_predictions(tmp_path)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "Stopping" in out
    assert "Traceback" not in out
    sent, _, _ = _sent(out)
    db = sqlite3.connect(tmp_path / "vigil-data" / "vigil.db")
    assert db.execute("SELECT count(*) FROM predictions").fetchone()[0] == sent + BACKFILL
    assert sent > 0
    assert (tmp_path / "vigil-data" / "notes.txt").read_text() == "mine"  # --keep kept it


@pytest.mark.integration
def test_demo_stops_cleanly_on_ctrl_c_during_start_up(tmp_path):
    proc = _demo(tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (tmp_path / "vigil-data" / "vigil.db").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # the server is starting or the model training
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "Stopping" in out and "Traceback" not in out


@pytest.mark.integration
def test_demo_on_a_busy_port_says_what_to_do(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "vigil.cli.main", "demo", "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1
    assert "--port" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.integration
def test_demo_refuses_to_empty_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "vigil-data").mkdir()
    (tmp_path / "vigil-data" / "vigil.db").write_text("someone's data")
    out = subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "demo", "--port", str(free_port())],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "--keep" in out.stderr and "Traceback" not in out.stderr
    assert (tmp_path / "vigil-data" / "vigil.db").read_text() == "someone's data"


def _sections(api: httpx.Client) -> dict[str, Any]:
    """What each section of the demo shows right now, read over HTTP (None: not yet)."""
    m = "/api/v1/models/credit-risk"
    got: dict[str, Any] = {}
    rules = {r["name"]: r for r in api.get("/api/v1/rules").json()["rules"]}
    got["rules"] = (
        rules
        if {"demo-input-drift", "demo-estimated-accuracy", "demo-accuracy-ahead"} <= set(rules)
        else None
    )
    notifiers = api.get("/api/v1/notifiers").json()["notifiers"]
    got["notifier"] = [n for n in notifiers if n["type"] == "log"] or None
    alerts = api.get("/api/v1/alerts", params={"model": "credit-risk"}).json()["alerts"]
    got["drift_alert"] = [
        a for a in alerts if a["rule"] == "demo-input-drift" and a["state"] == "firing"
    ] or None
    got["cause"] = None  # the ranking in the estimated-accuracy alert's firing event
    for alert in alerts:
        if alert["rule"] == "demo-estimated-accuracy":
            for event in api.get(f"/api/v1/alerts/{alert['id']}").json()["history"]:
                ranking = (event.get("details") or {}).get("explain") or {}
                if ranking.get("clear_cause") and ranking["candidates"][0]["name"] == "income":
                    got["cause"] = ranking
    quality = api.get(f"{m}/quality", params={"start": time.time() - 600}).json()
    estimate = ((quality.get("estimated") or {}).get("summary") or {}).get("accuracy") or {}
    got["cbpe"] = estimate.get("value")
    got["labels"] = (quality.get("realised") or {}).get("n") or None
    got["feedback"] = (quality.get("feedback") or {}).get("count") or None
    resources = api.get(f"{m}/resources", params={"start": time.time() - 600}).json()
    got["resources"] = resources.get("hosts") or None
    versions = api.get(f"{m}/versions").json()["versions"]
    got["versions"] = versions if len(versions) >= 2 else None
    history = api.get(f"{m}/aliases/production/history").json()["history"]
    got["rollback"] = [h for h in history if h["action"] == "auto_rollback"] or None
    drift = api.get(f"{m}/drift", params={"start": time.time() - 30}).json()
    got["drift"] = "income" in drift.get("drifted_columns", []) or None
    forecast = api.get(
        f"{m}/forecast",
        params={"metric": "estimated_accuracy", "step": "1m", "horizon": "15m", "history": "2h"},
    )
    got["forecast"] = forecast.json()["forecast"] if forecast.status_code == 200 else None
    now = time.time()  # the last 30 s against the backfilled history before the run
    explain = api.get(
        f"{m}/explain",
        params={
            "metric": "estimated_accuracy",
            "start": now - 30,
            "end": now,
            "version": "1",
            "baseline_start": now - 3 * 3600,
            "baseline_end": now - 3600,
        },
    ).json()
    top = (explain.get("candidates") or [{}])[0]
    got["explain"] = top if top.get("name") == "income" else None
    return got


@pytest.mark.integration
@pytest.mark.slow  # about a minute and a half on a loaded 2-core machine
def test_demo_shows_every_section_and_ends_on_sigterm_with_its_summary(tmp_path):
    home = tmp_path / "vigil-data"
    home.mkdir()
    (home / MARKER).write_text("an earlier run")
    (home / "earlier-run.txt").write_text("old")  # a fresh folder per run: this goes
    port = free_port()
    proc = _demo(
        tmp_path, "--drift-after", "15", "--promote-after", "3", "--label-delay", "2", port=port
    )
    got: dict[str, Any] = {}
    deadline = time.monotonic() + 300
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    got = _sections(api)
                except (httpx.HTTPError, KeyError, ValueError):  # still starting
                    got = {}
                if got and all(v is not None for v in got.values()):
                    break
                time.sleep(3.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    missing = [k for k, v in got.items() if v is None] if got else ["everything"]
    assert not missing, (missing, out[-3000:])
    assert not (home / "earlier-run.txt").exists()
    assert got["rules"]["demo-accuracy-ahead"]["kind"] == "forecast"
    assert 0.5 < got["cbpe"] < 1.0
    assert {v["version"] if isinstance(v, dict) else v for v in got["versions"]} >= {"1", "2"}
    assert got["rollback"][0]["version"] == "1" and got["rollback"][0]["previous_version"] == "2"
    # SIGTERM: the summary, and a clean exit
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out
    assert "What happened" in out and "auto_rollback → v1" in out
    assert "root cause of the estimated_accuracy change: feature income" in out
    assert "forecast (" in out
    sent, _, _ = _sent(out)
    assert sent > 0
