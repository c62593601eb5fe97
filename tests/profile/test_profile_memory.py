"""``vigil profile`` keeps peak memory independent of the file's size.

Each run is a child process (the real CLI entry point) that reads its own peak resident
memory from ``/proc/self/status`` (VmHWM) at exit, so the test process's memory plays no
part. Before the fix pyarrow's pre-buffering kept every row group read so far: the
2M-row file below peaked ~130 MB above the 200k-row one.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vigil.profile import Profile

COLUMNS = 10
ROW_GROUP = 100_000


def _write(path: Path, rows: int) -> None:
    """Uncompressed, plain-encoded integer-valued floats: ~80 bytes a row on disk (so the
    file's size, not the profiling work, dominates what a reader could accumulate) while
    each batch profiles fast (few distinct values)."""
    rng = np.random.default_rng(7)
    schema = pa.schema([(f"c{i}", pa.float64()) for i in range(COLUMNS)])
    with pq.ParquetWriter(path, schema, compression="none", use_dictionary=False) as writer:
        for start in range(0, rows, ROW_GROUP):
            n = min(ROW_GROUP, rows - start)
            cols = [rng.integers(0, 500, n).astype(np.float64) for _ in range(COLUMNS)]
            writer.write_table(pa.table(cols, schema=schema), row_group_size=ROW_GROUP)


_CHILD = """
import sys
from pathlib import Path
from vigil.cli.main import main
sys.argv[0] = "vigil"
hwm_path = Path(sys.argv.pop())  # the last argument is where to write the peak
try:
    main()
finally:
    # VmHWM: this process's own peak RSS since exec. (rusage's ru_maxrss of a child also
    # counts the forked copy of the parent before exec, here the test process itself.)
    hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    hwm_path.write_text(hwm.split()[1])
"""


def _peak_mib(data: Path, out: Path) -> float:
    """Run ``vigil profile`` in a child process and return its peak RSS in MiB."""
    hwm = out.with_suffix(".hwm")
    argv = ["profile", str(data), "-o", str(out), "-q", str(hwm)]
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return int(hwm.read_text()) / 1024  # KiB


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_peak_memory_does_not_grow_with_rows(tmp_path: Path) -> None:
    small, large = tmp_path / "small.parquet", tmp_path / "large.parquet"
    _write(small, 200_000)
    _write(large, 2_000_000)
    assert large.stat().st_size > 150 * 2**20  # what an accumulating reader would keep
    peak_small = _peak_mib(small, tmp_path / "small.profile")
    peak_large = _peak_mib(large, tmp_path / "large.profile")
    profile = Profile.from_bytes((tmp_path / "large.profile").read_bytes())
    assert profile.n_rows == 2_000_000
    assert profile["c0"].count == 2_000_000
    # 10x the rows and ~145 MB more file: the peak may move by allocator noise only.
    assert peak_large - peak_small < 40, (peak_small, peak_large)
