"""The dashboard in a real headless Chromium (system binary, driven by Playwright)."""

from __future__ import annotations

import re
import time

import pytest
from ui_support import fill_demo, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def site(tmp_path, server_factory):
    """A server (auth off) on a SQLite store holding demo traffic; its base URL."""
    fill_demo(f"sqlite:///{tmp_path / 'vigil.db'}", models=("credit-risk", "churn"), minutes=45)
    return str(server_factory(auth="off").base_url)


@pytest.fixture(params=["sqlite"])
def db_url(request, tmp_path):
    """Browser tests run on SQLite only: PostgreSQL is covered by the HTTP page tests."""
    return f"sqlite:///{tmp_path / 'vigil.db'}"


def test_overview_shows_every_model_and_keyboard_reaches_the_model_page(page, site):
    page.goto(site + "/")
    rows = page.locator("table#models tbody tr")
    assert rows.count() == 2
    assert page.locator("tr[data-model=credit-risk] .badge").inner_text() == "OK"
    assert page.locator("svg.spark polyline").count() == 4
    screenshot(page, "overview")
    # the first Tab lands on the skip link; it moves focus to the main content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # then Tab walks the picker and the model links; Enter opens one
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "churn":
            break
    else:
        pytest.fail("the model link was not reachable with the keyboard")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # a visible focus ring
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/ui/models/churn"))
    assert page.locator("h1").inner_text().startswith("churn")


def test_model_page_draws_every_chart_with_data(page, site):
    import httpx

    fitted = httpx.post(f"{site}/api/v1/models/credit-risk/quality/reference", timeout=60)
    assert fitted.status_code == 201, fitted.text
    now = time.time()
    samples = [
        {
            "host": host,
            "pid": 7,
            "ts": now - age,
            "interval_s": 10.0,
            "process_cpu_percent": 40.0 + i,
            "process_rss_bytes": 512.0 * 2**20 + i,
            "host_cpu_percent": 30.0,
            "host_cpu_count": 4.0,
            "net_network_p50_ms": 3.0,
        }
        for host, ages in (("web-1", range(5, 1800, 60)), ("web-2", (1500, 1200)))
        for i, age in enumerate(ages)
    ]
    sent = httpx.post(f"{site}/api/v1/models/credit-risk/resources", json={"samples": samples})
    assert sent.status_code == 200 and sent.json()["accepted"] == len(samples), sent.text
    page.goto(site + "/ui/models/credit-risk?range=1h")
    for key in (
        "traffic",
        "latency",
        "errors",
        "quality",
        "resource-cpu",
        "resource-memory",
        "resource-network",
    ):
        page.wait_for_selector(f"#chart-{key}[data-drawn=true]")
    traces = page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('[data-chart]')].map(el => [el.dataset.chart,
          el.data.map(t => ({name: t.name, points: t.y.filter(v => v !== null).length}))]))""")
    assert [t["name"] for t in traces["latency"]] == ["p50", "p95", "p99"]
    assert all(t["points"] >= 40 for t in traces["latency"]), traces
    assert traces["traffic"][0]["points"] >= 45 and traces["errors"][0]["points"] >= 45
    assert [t["name"] for t in traces["quality"]][:2] == ["realised accuracy", "estimated accuracy"]
    assert traces["quality"][0]["points"] >= 40 and traces["quality"][1]["points"] >= 40
    assert "Realised accuracy" in page.locator("#quality").inner_text()
    assert page.locator("tr[data-host=web-1] .badge").inner_text() == "ok"
    assert page.locator("tr[data-host=web-2] .badge").inner_text() == "stale"
    assert len(traces["resource-cpu"]) == 4  # 2 hosts x process and host CPU
    assert traces["resource-cpu"][0]["points"] == 30
    # Plotly drew SVG paths for the lines and the bars
    assert page.locator("#chart-latency .scatterlayer .trace path.js-line").count() == 3
    assert page.locator("#chart-errors .barlayer .point").count() > 0
    screenshot(page, "model")
    # the version filter and range picker are labelled form controls
    page.get_by_label("Version", exact=True).select_option("2")
    page.get_by_label("Time range").select_option("6h")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"range=6h&version=2"))
    page.wait_for_selector("#chart-traffic[data-drawn=true]")
    assert "version 2" in page.locator("p.sub").inner_text()


def test_sign_in_once_per_browser_session(page, store, server_factory, tmp_path):
    _, secret = store.create_api_key("viewer", ["read"])
    base = str(server_factory(auth="required").base_url)
    page.goto(base + "/?range=6h")
    assert page.get_by_label("API key").is_visible()
    screenshot(page, "login")
    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    assert "unknown or revoked" in page.locator("[role=alert]").inner_text()
    page.get_by_label("API key").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/\?range=6h$"))
    assert page.locator("h1").inner_text() == "Models"
    cookie = next(c for c in page.context.cookies() if c["name"] == "vigil_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] == -1
    assert secret not in cookie["value"]  # an opaque session id, not the key
    assert page.evaluate("document.cookie").find(secret) == -1  # scripts cannot read it
    page.goto(base + "/ui/models/nope")  # kept: no second prompt
    assert page.locator("h1").inner_text() == "Not found"
    page.goto(base + "/")
    page.get_by_role("button", name="Sign out").click()
    assert page.get_by_label("API key").is_visible()


def test_rollback_clicked_in_the_ui_moves_the_alias(page, site, store, tmp_path):
    import httpx

    from vigil.registry import Registry

    registry = Registry(store, tmp_path)
    for version in ("1", "2"):
        registry.register("credit-risk", version, notes=f"release {version}")
        registry.promote("credit-risk", "production", version, reason="release")
    page.goto(site + "/ui/models/credit-risk")
    row = page.locator("tr[data-alias=production]")
    assert row.locator(".alias-version").inner_text() == "2"
    row.get_by_role("button", name="Roll back production to version 1").click()
    assert "It will point at version 1" in page.locator(".confirm-text").inner_text()
    screenshot(page, "confirm-rollback")
    page.get_by_label("Reason").fill("p95 doubled")
    page.get_by_role("button", name="Yes, roll back to 1").click()
    page.wait_for_url(re.compile(r"/ui/models/credit-risk\?changed=production"))
    assert page.get_by_role("status").inner_text() == "Alias production changed."
    assert row.locator(".alias-version").inner_text() == "1"
    assert "rollback to 1 by anonymous — p95 doubled" in row.locator(".history").inner_text()
    alias = httpx.get(f"{site}/api/v1/models/credit-risk/aliases/production").json()
    assert alias["resolved_version"] == "1"


def test_alert_acknowledged_in_the_ui_is_acknowledged_in_the_api(page, site):
    import httpx

    api = httpx.Client(base_url=site)
    assert (
        api.post(
            "/api/v1/rules",
            json={
                "name": "errors-high",
                "model": "credit-risk",
                "metric": "error_rate",
                "threshold": 0.01,
                "window": "1h",
                "min_count": 1,
                "severity": "critical",
            },
        ).status_code
        == 201
    )
    assert api.post("/api/v1/rules/evaluate").status_code == 200
    (alert,) = api.get("/api/v1/alerts", params={"state": "firing"}).json()["alerts"]
    page.goto(site + "/")
    assert page.locator("tr[data-model=credit-risk] .badge").inner_text() == "firing"
    assert page.locator("tr[data-model=churn] .badge").inner_text() == "OK"
    page.get_by_role("link", name="Alerts").click()
    row = page.locator(f"tr[data-alert='{alert['id']}']")
    assert row.locator(".badge").inner_text() == "firing"
    screenshot(page, "alerts")
    row.get_by_role("button", name=f"Acknowledge alert {alert['id']}").click()
    assert page.get_by_role("status").inner_text() == f"Alert {alert['id']} acknowledged."
    assert row.locator(".acked").inner_text() == "yes, by anonymous"
    after = api.get(f"/api/v1/alerts/{alert['id']}").json()
    assert after["acked"] is True and after["acked_by"] == "anonymous"
    assert [e["kind"] for e in after["history"]][-1] == "acked"
    api.close()


def test_drift_page_draws_the_features_against_the_uploaded_reference(page, site):
    import httpx
    import numpy as np

    from vigil.cli.demo_model import make_applicants

    page.goto(site + "/ui/models/churn/drift")
    assert "no reference data set" in page.locator("#no-reference").inner_text()
    reference = make_applicants(300, np.random.default_rng(5), income_shift=0.6)
    answer = httpx.post(f"{site}/api/v1/models/churn/reference", json=reference, timeout=60)
    assert answer.status_code == 201, answer.text
    page.goto(site + "/ui/models/churn")
    page.get_by_role("link", name="Drift against the reference").click()
    page.wait_for_selector("#chart-drift[data-drawn=true]", timeout=60_000)
    income = page.locator("tr[data-feature=income]")
    assert income.locator(".badge").inner_text() == "drifted"
    assert page.locator("#drift-features tbody tr").count() == 6
    bars = page.evaluate("document.getElementById('chart-drift').data[0].x.length")
    assert bars == 6
    assert page.locator("#chart-drift .barlayer .point").count() == 6
    screenshot(page, "drift")


def test_api_docs_render_offline_under_the_csp(page, site):
    """Swagger UI runs from vigil's own assets with script-src 'self' (the page fixture
    fails on any console error, CSP violations included)."""
    external: list[str] = []
    page.on(
        "request", lambda req: external.append(req.url) if not req.url.startswith(site) else None
    )
    page.goto(site + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("vigil")
    assert page.locator(".opblock").count() > 20  # every operation listed
    assert external == []


def test_redoc_renders_offline_and_the_csp_blocks_its_logo(browser, site):
    """ReDoc renders from vigil's assets; the one third-party load it tries (Redocly's
    logo) is blocked by the CSP, so nothing leaves the host."""
    context = browser.new_context()
    tab = context.new_page()
    errors: list[str] = []
    loaded: list[str] = []
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("response", lambda resp: loaded.append(resp.url))
    tab.goto(site + "/redoc")
    tab.wait_for_selector("h1", timeout=15_000)
    assert tab.locator("h1").first.inner_text().startswith("vigil")
    context.close()
    assert loaded and all(url.startswith(site) for url in loaded), loaded
    assert all("Content Security Policy" in e and "cdn.redoc.ly" in e for e in errors), errors
