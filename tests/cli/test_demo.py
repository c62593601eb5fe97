"""`vigil demo` end to end: a real server, a real model, data in ./vigil-data."""

from __future__ import annotations

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


@pytest.mark.integration
def test_demo_streams_predictions_and_late_labels(tmp_path):
    proc = _demo(tmp_path, "--duration", "8", "--label-delay", "2", "--rate", "300",
                 "--drift-after", "3")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "held-out accuracy" in out
    assert "predictions/s" in out
    assert "latency p50 / p95 / p99" in out
    assert "drifted features" in out
    assert "income" in out  # the injected drift is found against the training reference
    db = sqlite3.connect(tmp_path / "vigil-data" / "vigil.db")
    predictions = db.execute("SELECT count(*), sum(error IS NOT NULL) FROM predictions").fetchone()
    labels = db.execute("SELECT count(*) FROM labels l JOIN predictions p "
                        "ON p.id = l.prediction_id").fetchone()[0]
    assert predictions[0] >= 1000
    assert 0 < predictions[1] < predictions[0] * 0.05
    assert 0 < labels < predictions[0]  # labels trail predictions by --label-delay


@pytest.mark.integration
def test_demo_stops_cleanly_on_ctrl_c(tmp_path):
    proc = _demo(tmp_path)
    deadline = time.time() + 60
    while time.time() < deadline and not (tmp_path / "vigil-data" / "vigil.db").exists():
        time.sleep(0.2)
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Stopping" in out
    assert "Traceback" not in out
    db = sqlite3.connect(tmp_path / "vigil-data" / "vigil.db")
    assert db.execute("SELECT count(*) FROM predictions").fetchone()[0] > 0


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
