"""README's "Offline volumes with Spark" example runs as written against a real server."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]


@pytest.fixture
def db_url(tmp_path) -> str:
    """SQLite only: the upload path itself is tested on both backends elsewhere."""
    return f"sqlite:///{tmp_path / 'vigil.db'}"


def test_readme_spark_example_runs_as_written(spark, server_factory):
    section = README.split("### Offline volumes with Spark", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    client = server_factory(auth="off")
    assert client.post("/api/v1/models", json={"name": "churn"}).status_code == 201
    code = block.replace("http://127.0.0.1:8765", str(client.base_url).rstrip("/"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})  # getOrCreate reuses the test session
    assert out.getvalue().splitlines() == ["['x']", "['x']"]
    stored = client.get("/api/v1/models/churn/reference").json()
    assert (stored["n_rows"], stored["sample_rows"], stored["columns"]) == (
        100_000,
        0,
        ["x", "plan"],
    )
