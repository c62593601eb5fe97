"""The README's canary example runs as written and routes its share to the canary."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_readme_canary_example_runs(tmp_path):
    block = re.search(r"```python\n(# canary example\n.*?)```", README, re.S).group(1)
    subprocess.run([sys.executable, "-c", block], cwd=tmp_path, check=True, timeout=120)
    conn = sqlite3.connect(tmp_path / "canary-demo.db")
    try:
        counts = dict(
            conn.execute("SELECT version, count(*) FROM predictions GROUP BY version").fetchall()
        )
    finally:
        conn.close()
    assert sum(counts.values()) == 100
    assert 1 <= counts.get("4", 0) <= 25 and counts["3"] >= 75  # about 10 % to the canary
