"""Take the README's demo screenshot: run ``vigil demo``, open its model page, save a PNG.

Runs the demo as a real process on a free port with an early promotion and drift, waits
(polling the HTTP API, generous deadline) until the estimated-accuracy alert fires and
resources, CBPE estimates and drift are in, then opens ``/ui/models/credit-risk`` in the
system Chromium (Playwright, as the dashboard tests do) and writes
``docs/img/demo-dashboard.png`` (the whole page but its traffic charts and versions).
Usage, from the repository root::

    PYTHONPATH=$PWD python bench/ui/demo_screenshot.py [--out docs/img/demo-dashboard.png]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

MODEL_API = "/api/v1/models/credit-risk"
HIDDEN = ["charts-h", "versions-h"]  # sections left out of the picture (traffic, versions)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ready(api: httpx.Client) -> bool:
    """Whether the page has everything the screenshot should show."""
    try:
        alerts = api.get(
            "/api/v1/alerts", params={"model": "credit-risk", "state": "firing"}
        ).json()["alerts"]
        resources = api.get(f"{MODEL_API}/resources").json()
    except (httpx.HTTPError, KeyError, ValueError):
        return False
    fired = {a["rule"] for a in alerts}
    return {"demo-input-drift", "demo-estimated-accuracy"} <= fired and bool(resources.get("hosts"))


def _shoot(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium on PATH (apt-get install -y chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(
            viewport={"width": 1200, "height": 900}, device_scale_factor=0.75
        )  # a smaller file, still legible
        page.goto(url, wait_until="networkidle")
        page.wait_for_timeout(1500)  # Plotly draws after load
        # the README picture: alerts with their cause, drift, quality, resources, aliases
        page.evaluate(
            """ids => ids.forEach(id => {
            const h = document.getElementById(id);
            if (h) h.closest('section').style.display = 'none'; })""",
            HIDDEN,
        )
        page.screenshot(path=str(out), full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/demo-dashboard.png"))
    parser.add_argument("--deadline", type=float, default=600.0)
    args = parser.parse_args()
    port = _free_port()
    with tempfile.TemporaryDirectory() as work:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vigil.cli.main",
                "demo",
                "--port",
                str(port),
                "--drift-after",
                "20",
                "--promote-after",
                "3",
                "--label-delay",
                "2",
            ],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + args.deadline
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as api:
                while not _ready(api):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("the demo did not reach its alerts in time")
                    time.sleep(2.0)
            time.sleep(20)  # a few more windows of drifted traffic on the charts
            _shoot(f"http://127.0.0.1:{port}/ui/models/credit-risk?range=15m", args.out)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
