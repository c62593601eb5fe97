"""Dashboard pages over real HTTP on SQLite and PostgreSQL: content, errors, assets."""

from __future__ import annotations

import re

import pytest
from ui_support import fill_demo

pytestmark = pytest.mark.integration


@pytest.fixture
def demo(db_url, store, server_factory):
    """A server on a store holding two demo models with two versions each."""
    fill_demo(db_url, models=("credit-risk", "churn"), minutes=30)
    return server_factory(auth="off")


def test_overview_lists_every_model_with_state_and_numbers(demo):
    r = demo.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    rows = re.findall(r'<tr data-model="([^"]+)">(.*?)</tr>', html, re.S)
    assert [name for name, _ in rows] == ["churn", "credit-risk"]
    for _, row in rows:
        assert '<span class="badge ok"' in row and ">OK<" in row  # a text badge, not colour
        assert ">360<" in row  # 2 versions x 30 minutes x 6
        assert re.search(r"\d+\.\d\d %", row)  # error rate
        assert re.search(r"\d+(\.\d)? ms", row)  # p95 latency
        assert row.count("<polyline") == 2  # traffic and latency sparklines
    assert "https://" not in html and "http://cdn" not in html  # nothing from the internet
    html = demo.get("/", params={"range": "24h"}).text
    assert '<option value="24h" selected>' in html and "Last 24 hours" in html
    assert ">360<" in html


def test_model_page_charts_versions_and_filter(demo, store):
    from vigil.store.quality.queries import insert_run

    model = store.get_model("credit-risk")
    for status, accuracy in (("succeeded", 0.91), ("failed", None)):
        insert_run(
            store,
            model.id,
            {
                "dataset": "golden",
                "version": "2",
                "alias": "production",
                "mode": "in_process",
                "status": status,
                "started_at": 1.0,
                "finished_at": 2.0,
                "n_rows": 500,
                "metrics": {"accuracy": accuracy} if accuracy else None,
                "error": None if accuracy else "predict failed",
            },
        )
    r = demo.get("/ui/models/credit-risk", params={"range": "1h"})
    assert r.status_code == 200
    html = r.text
    for key in ("traffic", "latency", "errors"):
        assert f'data-chart="{key}"' in html
    data = re.search(
        r'<script type="application/json" id="chart-data">(.*?)</script>', html, re.S
    ).group(1)
    assert '"name":"p99"' in data and '"type":"bar"' in data
    assert re.search(r'<script src="/ui/assets/plotly-[\d.]+\.min\.js">', html)
    versions = re.search(r'<table class="data" id="per-version">(.*?)</table>', html, re.S)
    assert versions.group(1).count('<th scope="row">') == 2
    runs = re.search(r'<table class="data" id="runs".*?</table>', html, re.S).group(0)
    assert runs.count("<tr data-run=") == 2 and ">0.910<" in runs
    assert ">succeeded<" in runs and ">failed<" in runs and "predict failed" in runs
    assert "Realised accuracy" in html  # half the demo predictions are labelled
    one = demo.get("/ui/models/credit-risk", params={"version": "2"}).text
    assert '<option value="2" selected>' in one and "version 2" in one
    assert re.search(r'id="per-version">.*?<th scope="row">.*?>2</a>', one, re.S)
    assert demo.get("/ui/models/credit-risk", params={"version": ""}).status_code == 200


BAD = [
    ("/ui/models/nope", 404, "No model is named &#39;nope&#39;."),
    ("/ui/models/churn?version=9", 400, "has no version &#39;9&#39;; it has 1, 2."),
    ("/ui/models/churn?range=forever", 400, "The range must be one of"),
    ("/?range=7d", 400, "The range must be one of 15m, 1h, 6h, 24h. Got &#39;7d&#39;."),
    (
        "/ui/models/churn?range=2h",
        400,
        "The range must be one of 15m, 1h, 6h, 24h, 7d, 30d. Got &#39;2h&#39;.",
    ),
    (
        "/ui/models/churn?segment=income",
        400,
        "&#39;segment&#39; must be a categorical input "
        "of &#39;churn&#39; (plan, region). Got &#39;income&#39;.",
    ),
    ("/ui/alerts/abc", 404, "No alert with id &#39;abc&#39;."),
    ("/ui/alerts/99", 404, "No alert with id 99."),
]


def test_segments_drift_summary_heat_map_and_distributions_render(demo):
    """The new sections on both backends (the browser tests draw them on SQLite)."""
    import json

    import numpy as np

    from vigil.cli.demo_model import make_applicants

    html = demo.get("/ui/models/credit-risk", params={"segment": "plan"}).text
    rows = re.findall(r'<tr data-segment="([^"]+)">', html)
    assert sorted(rows) == ["basic", "plus", "premium"]
    assert 'data-fairness="demographic_parity_difference"' in html
    assert "has no reference data set" in html  # the drift summary says why it is empty
    assert 'id="no-alerts"' in html
    reference = make_applicants(300, np.random.default_rng(5), income_shift=0.6)
    assert (
        demo.post("/api/v1/models/credit-risk/reference", json=reference, timeout=60).status_code
        == 201
    )
    html = demo.get("/ui/models/credit-risk").text
    assert re.search(r'id="drift-share">\d+\.\d\d %', html)
    assert 'data-feature="income"' in html.split('id="top-drifted"')[1].split("</dd>")[0]
    html = demo.get("/ui/models/credit-risk/drift").text
    charts = json.loads(re.search(r'id="chart-data">(.*?)</script>', html, re.S).group(1))
    heat = charts["heatmap"]["data"][0]
    assert heat["type"] == "heatmap" and len(heat["y"]) == 6
    assert sum(v is not None for row in heat["z"] for v in row) >= 6 * 5
    dists = [k for k in charts if k.startswith("dist-")]
    assert len(dists) == 6 and html.count('<figure data-feature="') == 6


def test_bad_input_is_a_clear_html_4xx(demo):
    for path, status, message in BAD:
        r = demo.get(path)
        assert r.status_code == status, (path, r.text)
        assert "text/html" in r.headers["content-type"] and message in r.text, path


def test_plotly_is_served_from_the_installed_package(demo):
    import plotly
    from plotly.offline import get_plotlyjs

    path = f"/ui/assets/plotly-{plotly.__version__}.min.js"
    r = demo.get(path, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert r.text == get_plotlyjs()
    assert "immutable" in r.headers["cache-control"]
    again = demo.get(path, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert demo.get("/ui/assets/plotly-0.0.1.min.js").status_code == 404
    css = demo.get("/ui/static/vigil.css")
    assert css.status_code == 200 and ".badge" in css.text


def test_empty_store_says_how_to_start(server_factory):
    r = server_factory(auth="off").get("/")
    assert r.status_code == 200 and "No models yet" in r.text and "vigil demo" in r.text
