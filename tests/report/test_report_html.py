"""The HTML and JSON drift reports."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from vigil.drift import detect_drift


def _report():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(
        {
            "age": rng.normal(40, 10, 500),
            "plan": rng.choice(["a", "b"], 500),
            "note": ["<script>alert(1)</script> fine"] * 500,
        }
    )
    cur = pd.DataFrame(
        {
            "age": rng.normal(50, 10, 500),
            "plan": rng.choice(["a", "b"], 500),
            "note": ["<script>alert(1)</script> fine"] * 500,
        }
    )
    return detect_drift(ref, cur, multivariate="classifier")


def test_html_is_self_contained_and_offline(tmp_path: Path) -> None:
    path = _report().save_html(tmp_path / "r.html")
    page = path.read_text(encoding="utf-8")
    assert "<script src=" not in page  # nothing fetched: Plotly is inlined
    assert "Plotly.newPlot" in page
    from plotly.offline import get_plotlyjs

    assert get_plotlyjs()[:2000] in page


def test_html_has_summary_table_overlays_and_reasons(tmp_path: Path) -> None:
    report = _report()
    page = report.save_html(tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'id="summary"' in page and 'id="multivariate"' in page
    for c in report.columns:
        assert f'data-column="{c.column}"' in page
        assert html.escape(c.reason, quote=False) in page
    assert page.count('class="plot"') == len(report.columns)
    assert 'id="dataset-drift" class="drift">yes' in page


def test_user_text_is_escaped(tmp_path: Path) -> None:
    page = _report().save_html(tmp_path / "r.html").read_text(encoding="utf-8")
    body = page.split("</head>", 1)[1]
    assert "<script>alert(1)</script>" not in body


def test_json_has_the_same_content(tmp_path: Path) -> None:
    report = _report()
    data = json.loads(report.save_json(tmp_path / "r.json").read_text())
    assert data["drifted_columns"] == report.drifted_columns
    assert data["columns"]["age"]["method"] == "ks"
    assert set(data["distributions"]) == {"age", "plan", "note"}
    assert data["multivariate"][0]["method"] == "classifier"
    assert json.loads(report.to_json()) == report.to_dict()
    assert not re.search(r"\bNaN\b|Infinity", report.to_json(distributions=True))
