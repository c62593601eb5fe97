"""`vigil demo` end to end: a real server, a real model, data in ./vigil-data."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from support.servers import free_port


def _demo(tmp_path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vigil.cli.main", "demo", "--port", str(free_port()), *args],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _sent(out: str) -> tuple[int, int, int]:
    """(predictions, failures, labels) from the demo's last line."""
    found = re.search(r"Sent (\d+) predictions \((\d+) failed\) and (\d+) labels", out)
    assert found, out
    return int(found[1]), int(found[2]), int(found[3])


def _wait_for_predictions(tmp_path, deadline_s: float = 180.0) -> None:
    """Poll the demo's database until it holds a prediction (start-up is slow when loaded)."""
    db_path = tmp_path / "vigil-data" / "vigil.db"
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if db_path.exists():
            try:
                with sqlite3.connect(db_path, timeout=5) as db:
                    if db.execute("SELECT count(*) FROM predictions").fetchone()[0] > 0:
                        return
            except sqlite3.OperationalError:  # tables not made yet, or the writer holds it
                pass
        time.sleep(0.2)
    raise AssertionError(f"the demo stored no prediction in {deadline_s} s")


@pytest.mark.integration
@pytest.mark.slow  # about 14 s on a loaded 2-core machine
def test_demo_streams_predictions_and_late_labels(tmp_path):
    proc = _demo(tmp_path, "--duration", "8", "--label-delay", "2", "--rate", "300",
                 "--drift-after", "3", "--error-rate", "0.03")
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
        "SELECT count(*), sum(error IS NOT NULL) FROM predictions").fetchone()
    joined = db.execute("SELECT count(*) FROM labels l JOIN predictions p "
                        "ON p.id = l.prediction_id").fetchone()[0]
    # however fast the loaded machine let the demo send, everything sent is stored
    assert sent > 0 and stored == sent and errors == failed
    assert joined == labelled and 0 < labelled < sent  # labels trail by --label-delay


@pytest.mark.integration
def test_demo_stops_cleanly_on_ctrl_c(tmp_path):
    proc = _demo(tmp_path)
    _wait_for_predictions(tmp_path)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "Stopping" in out
    assert "Traceback" not in out
    sent, _, _ = _sent(out)
    db = sqlite3.connect(tmp_path / "vigil-data" / "vigil.db")
    assert db.execute("SELECT count(*) FROM predictions").fetchone()[0] == sent > 0


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
        out = subprocess.run([sys.executable, "-m", "vigil.cli.main", "demo", "--port",
                              str(port)], cwd=tmp_path, capture_output=True, text=True,
                             timeout=60)
    assert out.returncode == 1
    assert "--port" in out.stderr
    assert "Traceback" not in out.stderr
