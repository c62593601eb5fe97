"""Every signal on the dashboard, in a real Chromium: firing alerts with their root-cause
ranking, quality and fairness per segment and window, the drift summary, the drift heat
map over time, distributions, and series of a single point."""

from __future__ import annotations

import re
import time

import httpx
import numpy as np
import pytest
from ui_support import fill_demo, plant_segment_errors, plant_segments, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DRAWN_TRACES = """id => document.getElementById(id).data.map(t => ({name: t.name, mode: t.mode,
    points: (t.y || []).filter(v => v !== null).length}))"""


@pytest.fixture(params=["sqlite"])
def db_url(request, tmp_path):
    """Browser tests run on SQLite only: PostgreSQL is covered by the HTTP tests."""
    return f"sqlite:///{tmp_path / 'vigil.db'}"


@pytest.fixture
def site(tmp_path, server_factory):
    """A server (auth off) on a SQLite store holding demo traffic; its base URL."""
    fill_demo(f"sqlite:///{tmp_path / 'vigil.db'}", models=("credit-risk",), minutes=45)
    return str(server_factory(auth="off").base_url)


def test_firing_alert_is_listed_on_the_model_page_with_its_ranking(page, server_factory):
    client = server_factory(auth="off")
    site = str(client.base_url)
    plant_segment_errors(client)
    assert (
        client.post(
            "/api/v1/rules",
            json={
                "name": "fraud-errors",
                "model": "fraud",
                "metric": "error_rate",
                "op": ">",
                "threshold": 0.03,
                "window": "1h",
                "min_count": 1,
                "severity": "critical",
            },
        ).status_code
        == 201
    )
    assert client.post("/api/v1/rules/evaluate", timeout=120).status_code == 200
    (alert,) = client.get("/api/v1/alerts", params={"state": "firing"}).json()["alerts"]
    page.goto(site + "/ui/models/fraud")
    item = page.locator(f"#model-alerts li[data-alert='{alert['id']}']")
    assert item.locator(".badge").first.inner_text() == "firing"
    assert item.locator(".alert-rule").inner_text() == f"#{alert['id']} fraud-errors"
    assert float(item.locator(".value").inner_text()) == pytest.approx(alert["value"], rel=1e-3)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", item.locator(".since").inner_text())
    # the planted cause is named beside the alert, first in its ranking
    ranking = item.locator(".ranking")
    assert ranking.locator(".verdict .badge").inner_text() == "segment region=apac"
    first = ranking.locator("tbody tr").first
    assert first.get_attribute("data-candidate") == "segment region=apac"
    assert float(first.locator("td.num").inner_text()) >= 0.2
    screenshot(page, "model-alerts")
    # the alert's own page: the same ranking and the history
    item.locator(".alert-rule").click()
    page.wait_for_url(re.compile(rf"/ui/alerts/{alert['id']}$"))
    assert page.locator(".ranking .verdict .badge").inner_text() == "segment region=apac"
    kinds = page.locator("#alert-history tbody td:nth-child(2)").all_inner_texts()
    assert kinds[:2] == ["pending", "firing"]
    screenshot(page, "alert")


def test_segments_and_fairness_per_window_are_drawn(page, server_factory):
    from fairlearn import metrics as flm
    from sklearn import metrics as skm

    client = server_factory(auth="off")
    sent = plant_segments(client)
    page.goto(f"{client.base_url}/ui/models/loans?range=1h")
    page.get_by_label("Split quality by").select_option("plan")
    page.get_by_role("button", name="Split").click()
    page.wait_for_url(re.compile(r"segment=plan"))
    for key in ("segment-quality", "fairness"):
        page.wait_for_selector(f"#chart-{key}[data-drawn=true]")
    traces = page.evaluate(DRAWN_TRACES, "chart-segment-quality")
    assert sorted(t["name"] for t in traces) == ["plan=a", "plan=b", "plan=c"]
    assert all(t["points"] >= 9 for t in traces), traces  # 45 minutes in 5-minute windows
    gaps = page.evaluate(DRAWN_TRACES, "chart-fairness")
    assert [g["name"] for g in gaps] == ["parity difference", "equalised odds diff."]
    assert all(g["points"] >= 9 for g in gaps), gaps
    parity = page.evaluate("document.getElementById('chart-fairness').data[0].y")
    known = [v for v in parity if v is not None]
    assert known[-1] > known[0] + 0.1  # the planted disparity opens over the range
    assert page.locator("#chart-fairness .scatterlayer .trace path.js-line").count() == 2
    # the numbers over the range are fairlearn's and scikit-learn's on the rows sent
    plan, y_true, y_pred = sent["plan"], sent["y_true"], sent["y_pred"]
    shown = page.locator("[data-fairness=demographic_parity_difference]").inner_text()
    assert float(shown.split()[0]) == pytest.approx(
        flm.demographic_parity_difference(y_true, y_pred, sensitive_features=plan), abs=5e-4
    )
    shown = page.locator("[data-fairness=equalized_odds_difference]").inner_text()
    assert float(shown.split()[0]) == pytest.approx(
        flm.equalized_odds_difference(y_true, y_pred, sensitive_features=plan), abs=5e-4
    )
    for seg in ("a", "b", "c"):
        row = page.locator(f"#segments tr[data-segment={seg}] td.num")
        mask = plan == seg
        assert int(row.nth(0).inner_text()) == int(mask.sum())
        assert float(row.nth(1).inner_text()) == pytest.approx(
            skm.accuracy_score(y_true[mask], y_pred[mask]), abs=5e-4
        )
    screenshot(page, "segments")


def test_drift_summary_heat_map_and_distributions(page, site):
    from vigil.cli.demo_model import make_applicants

    reference = make_applicants(400, np.random.default_rng(5), income_shift=0.6)
    answer = httpx.post(f"{site}/api/v1/models/credit-risk/reference", json=reference, timeout=60)
    assert answer.status_code == 201, answer.text
    page.goto(site + "/ui/models/credit-risk?range=1h")
    summary = page.locator("#drift-summary")
    assert re.match(r"\d+\.\d\d %", summary.locator("#drift-share").inner_text())
    assert summary.locator("#top-drifted [data-feature=income]").count() == 1
    summary.get_by_role("link", name="Drift per feature over time and distributions").click()
    page.wait_for_selector("#chart-heatmap[data-drawn=true]", timeout=60_000)
    heat = page.evaluate("""() => { const t = document.getElementById('chart-heatmap').data[0];
        return {rows: t.y.length, cols: t.x.length, marked: t.text.flat().filter(s => s).length,
                valued: t.z.flat().filter(v => v !== null).length}; }""")
    assert heat["rows"] == 6 and heat["cols"] in (12, 13), heat  # 5-minute windows of 1 h
    # 45 minutes of traffic: 9 or 10 windows have a value for every feature
    assert heat["valued"] in (54, 60), heat
    income = page.evaluate("""() => { const t = document.getElementById('chart-heatmap').data[0];
        return t.text[t.y.indexOf('income')]; }""")
    assert income.count("x") >= 8, income  # income drifted in (nearly) every window
    assert page.locator("#chart-heatmap .heatmaplayer image, #chart-heatmap .hm image").count() >= 1
    figures = page.locator("#distributions figure")
    assert figures.count() == 6
    for i in range(6):
        page.wait_for_selector(f"#chart-dist-{i}[data-drawn=true]")
    income = page.locator("#distributions figure[data-feature=income]")
    bars = income.locator(".barlayer .point")
    assert bars.count() == 40  # 20 bins, reference and current
    names = page.evaluate(
        "id => document.getElementById(id).data.map(t => t.name)",
        income.locator(".chart").get_attribute("id"),
    )
    assert names == ["reference", "current"]
    screenshot(page, "drift-heatmap")


def test_one_minute_of_data_is_drawn(page, server_factory):
    client = server_factory(auth="off")
    site = str(client.base_url)
    assert (
        client.post(
            "/api/v1/models",
            json={
                "name": "tiny",
                "schema": {"task": "regression", "features": [{"name": "x", "kind": "numeric"}]},
            },
        ).status_code
        == 201
    )
    minute = (int(time.time()) // 60 - 3) * 60
    records = [
        {
            "id": f"t{i}",
            "ts": minute + 5 + i,
            "latency_s": 0.01 * (1 + i % 3),
            "inputs": {"x": float(i)},
            "outputs": 1.0,
        }
        for i in range(20)
    ]
    r = client.post("/api/v1/models/tiny/predictions", json={"records": records})
    assert r.status_code == 200 and r.json()["accepted"] == 20, r.text
    deadline = time.monotonic() + 60
    while True:  # the minute rollup is written by the aggregator
        page.goto(site + "/ui/models/tiny?range=1h")
        page.wait_for_selector("#chart-latency[data-drawn=true]")
        traces = page.evaluate(DRAWN_TRACES, "chart-latency")
        if all(t["points"] == 1 for t in traces) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [(t["name"], t["points"], t["mode"]) for t in traces] == [
        ("p50", 1, "lines+markers"),
        ("p95", 1, "lines+markers"),
        ("p99", 1, "lines+markers"),
    ]
    assert page.locator("#chart-latency .scatterlayer .trace .points path").count() == 3
    page.goto(site + "/?range=1h")
    assert page.locator("tr[data-model=tiny] svg.spark circle.dot").count() == 1
    screenshot(page, "one-minute")
