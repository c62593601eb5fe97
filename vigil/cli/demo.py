"""``vigil demo``: the whole loop on an embedded database, in one command.

Starts the server on SQLite under ./vigil-data, trains a scikit-learn classifier, streams
its predictions through the SDK (with occasional failures and labels that arrive late)
and shows a live summary read back from the server, until Ctrl-C or ``--duration``.
"""

from __future__ import annotations

import collections
import socket
import threading
import time
from pathlib import Path
from typing import Any

import typer
from rich.live import Live
from rich.table import Table

from vigil.cli.common import HomeOption, console, settings_from
from vigil.errors import ConfigurationError

MODEL = "credit-risk"


def demo(
    home: Path | None = HomeOption,
    port: int = typer.Option(8765, "--port", help="Port for the demo server."),
    rate: float = typer.Option(200.0, "--rate", help="Predictions per second to send."),
    duration: float | None = typer.Option(None, "--duration", help="Stop after this many "
                                          "seconds (default: run until Ctrl-C)."),
    label_delay: float = typer.Option(5.0, "--label-delay", help="Seconds before a "
                                      "prediction's label arrives."),
    error_rate: float = typer.Option(0.01, "--error-rate", help="Share of calls that fail."),
    drift_after: float = typer.Option(60.0, "--drift-after", help="Seconds before applicants' "
                                      "incomes drop (injected drift); negative: never."),
) -> None:
    """Run a server, a model and its traffic; print where to look and a live summary."""
    import uvicorn

    from vigil.server.app import create_app, proxy_options
    from vigil.store import open_store

    if rate <= 0:
        raise ConfigurationError(f"--rate must be positive. Got {rate}.")
    settings = settings_from(None, home, host="127.0.0.1", port=port)
    _check_port_free(settings.host, port)
    url = f"http://{settings.host}:{port}"
    traffic = _Traffic(url, settings.home, rate, label_delay, error_rate, drift_after)
    store = server = thread = None
    try:  # Ctrl-C at any point, start-up included, stops cleanly
        store = open_store(settings.db_url)
        server = uvicorn.Server(uvicorn.Config(create_app(settings, store), host=settings.host,
                                               port=port, log_level="warning",
                                               access_log=False, **proxy_options(settings)))
        thread = threading.Thread(target=server.run, name="vigil-demo-server", daemon=True)
        thread.start()
        _wait_ready(url, thread)
        traffic.start()
        traffic.run(duration)
    except KeyboardInterrupt:
        console.print("Stopping...")
    finally:
        traffic.close()
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=10)
        if store is not None:
            store.close()
    console.print(f"\nSent {traffic.sent} predictions ({traffic.failures} failed) and "
                  f"{traffic.labels} labels. Run `vigil server` to keep exploring "
                  f"{settings.home}.")


class _Traffic:
    """The demo's model and its traffic: trained on start, sent through the SDK."""

    def __init__(self, url: str, home: Path, rate: float, label_delay: float,
                 error_rate: float, drift_after: float) -> None:
        self.url, self.home, self.rate = url, home, rate
        self.label_delay, self.error_rate, self.drift_after = label_delay, error_rate, drift_after
        self.sent = self.labels = self.failures = 0
        self.client: Any = None
        self.mon: Any = None

    def start(self) -> None:
        """Train the model, register it with its reference and open the Monitor."""
        import httpx

        import vigil
        from vigil.cli.demo_model import train

        with console.status("Training the demo model (scikit-learn logistic regression)..."):
            self.model = train()
        url = self.url
        console.print(f"[bold]vigil demo[/bold]  model [cyan]{MODEL}[/cyan] v1, held-out "
                      f"accuracy {self.model.accuracy:.3f}; data in {self.home.resolve()}")
        console.print(f"Dashboard: {url}/   API docs: {url}/docs   Prometheus: {url}/metrics")
        console.print(f"Metrics:   {url}/api/v1/models/{MODEL}/metrics      Ctrl-C stops.\n")
        self.client = httpx.Client(base_url=url, timeout=10.0)
        schema = vigil.ModelSchema.infer(self.model.reference[:200],
                                         task="binary_classification")
        self.client.post("/api/v1/models", json={"name": MODEL, "schema": schema.to_dict()})
        self.client.post(f"/api/v1/models/{MODEL}/reference",
                         json={"records": self.model.reference})
        self.mon = vigil.Monitor(MODEL, version="1", endpoint=url,
                                 task="binary_classification", spool_dir=self.home / "spool")

    def run(self, duration: float | None) -> None:
        """Send ``rate`` predictions a second (and their late labels) with a live view."""
        import numpy as np

        rng = np.random.default_rng(1)
        pending: collections.deque[tuple[float, str, int]] = collections.deque()
        started = time.time()
        stop_at = started + duration if duration else float("inf")
        next_view = next_drift = 0.0
        drift: dict = {}
        with Live(_view({}, {}, 0, 0, 0, 0.0), console=console, refresh_per_second=2) as live:
            while time.time() < stop_at:
                tick = time.time()
                self._send(rng, tick - started, tick, pending)
                while pending and pending[0][0] <= tick:
                    _, pid, actual = pending.popleft()
                    self.mon.log_label(pid, actual)
                    self.labels += 1
                if tick >= next_drift:
                    next_drift = tick + 5.0
                    drift = _get(self.client, f"/api/v1/models/{MODEL}/drift",
                                 {"start": tick - 30})
                if tick >= next_view:
                    next_view = tick + 1.0
                    summary = _get(self.client, f"/api/v1/models/{MODEL}/metrics",
                                   {"start": started - 60, "step": 60}).get("summary", {})
                    live.update(_view(summary, drift, self.sent, self.labels, self.failures,
                                      time.time() - started))
                time.sleep(max(0.0, 0.1 - (time.time() - tick)))

    def _send(self, rng: Any, elapsed: float, tick: float,
              pending: collections.deque[tuple[float, str, int]]) -> None:
        from vigil.cli.demo_model import make_applicants, true_default_probability

        shift = -0.6 if 0 <= self.drift_after <= elapsed else 0.0
        for features in make_applicants(max(1, int(self.rate / 10)), rng, shift):
            try:
                with self.mon.observe(features) as obs:
                    if rng.random() < self.error_rate:
                        raise TimeoutError("feature store timed out")
                    obs.output, obs.proba = self.model.predict(features)
            except TimeoutError:
                self.failures += 1
            self.sent += 1
            actual = int(rng.random() < true_default_probability(features))
            pending.append((tick + self.label_delay, obs.id, actual))

    def close(self) -> None:
        """Deliver what the SDK holds and close the HTTP client."""
        if self.mon is not None:
            self.mon.close()
        if self.client is not None:
            self.client.close()


def _get(client: object, path: str, params: dict) -> dict:
    try:
        answer = client.get(path, params=params)  # type: ignore[attr-defined]
        return answer.json() if answer.status_code == 200 else {}
    except Exception:  # the view is best-effort; the next refresh tries again
        return {}


def _view(summary: dict, drift: dict, sent: int, labels: int, failures: int,
          elapsed: float) -> Table:
    def ms(key: str) -> str:
        value = summary.get(key)
        return "-" if value is None else f"{value * 1000:.2f} ms"

    count = summary.get("count", 0)
    table = Table(title=f"{MODEL} v1 — live (server-side rollups)", min_width=60)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("elapsed", f"{elapsed:.0f} s")
    table.add_row("predictions stored", f"{count}")
    table.add_row("predictions/s", f"{count / elapsed:.1f}" if elapsed > 0 else "-")
    table.add_row("latency p50 / p95 / p99",
                  f"{ms('latency_p50_s')} / {ms('latency_p95_s')} / {ms('latency_p99_s')}")
    rate = summary.get("error_rate")
    table.add_row("error rate", "-" if rate is None else f"{rate:.2%}")
    table.add_row("sent by the SDK (failed)", f"{sent} ({failures})")
    table.add_row("labels sent (delayed)", f"{labels}")
    if drift.get("n_current"):
        drifted = ", ".join(drift.get("drifted_columns", [])) or "none"
        table.add_row("drifted features (last 30 s)",
                      f"{drifted} ({drift['n_current']} rows, {drift.get('mode')})")
    return table


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError:
            raise ConfigurationError(
                f"Port {port} on {host} is in use (is a vigil server running?). "
                "Pass --port to pick another."
            ) from None


def _wait_ready(url: str, thread: threading.Thread, timeout_s: float = 20.0) -> None:
    import httpx

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if not thread.is_alive():
            raise ConfigurationError("The demo server stopped during start-up; see above.")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise ConfigurationError(f"The demo server did not become ready at {url} in {timeout_s} s.")
