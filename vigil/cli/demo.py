"""``vigil demo``: the whole product on an embedded database, in one command.

Starts the server on SQLite in a fresh ./vigil-data (kept with ``--keep``), trains a
scikit-learn classifier, backfills 90 minutes of labelled history (so charts, the CBPE
reference and forecasts have something to stand on), registers two versions, sets alert
rules with a log notifier and a rollback policy, then streams predictions through the SDK
with resource sampling, late labels and feedback. During the run version 2 is promoted and
rolled back automatically, and the applicants' incomes drop (injected drift) until an alert
fires with its root cause. Ctrl-C, SIGTERM or ``--duration`` ends it with a summary.
"""

from __future__ import annotations

import collections
import contextlib
import pickle
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.live import Live
from rich.table import Table

from vigil.cli.common import HomeOption, console, settings_from
from vigil.config import Settings
from vigil.errors import ConfigurationError

MODEL = "credit-risk"
ALIAS = "production"
MARKER = ".vigil-demo"  # marks a data folder the demo made, so only those are wiped
BACKFILL_MINUTES = 90  # over an hour: alerts rank causes against the hour before
BACKFILL_PER_MINUTE = 40
API = f"/api/v1/models/{MODEL}"


def demo(
    home: Path | None = HomeOption,
    port: int = typer.Option(8765, "--port", help="Port for the demo server."),
    rate: float = typer.Option(200.0, "--rate", help="Predictions per second to send."),
    duration: float | None = typer.Option(
        None, "--duration", help="Stop after this many seconds (default: run until Ctrl-C)."
    ),
    label_delay: float = typer.Option(
        5.0, "--label-delay", help="Seconds before a prediction's label arrives."
    ),
    error_rate: float = typer.Option(0.01, "--error-rate", help="Share of calls that fail."),
    drift_after: float = typer.Option(
        30.0,
        "--drift-after",
        help="Seconds before applicants' incomes drop (injected drift); negative: never.",
    ),
    promote_after: float = typer.Option(
        10.0,
        "--promote-after",
        help="Seconds before "
        "version 2 is promoted (and, failing more, rolled "
        "back automatically); negative: never.",
    ),
    keep: bool = typer.Option(
        False,
        "--keep",
        help="Keep the data of earlier runs (default: a fresh data folder per run).",
    ),
) -> None:
    """Run a server, a model and its traffic; print where to look and a live summary."""
    if rate <= 0:
        raise ConfigurationError(f"--rate must be positive. Got {rate}.")
    settings = settings_from(
        None, home, host="127.0.0.1", port=port, rules_interval_s=2.0, registry_check_interval_s=2.0
    )
    _check_port_free(settings.host, port)
    _prepare_home(settings.home, keep)
    traffic = _Traffic(
        f"http://{settings.host}:{port}",
        settings.home,
        rate,
        label_delay,
        error_rate,
        drift_after,
        promote_after,
    )
    with _sigterm_as_interrupt():
        try:  # Ctrl-C or SIGTERM at any point, start-up included, stops cleanly
            with _serving(settings, traffic.url):
                traffic.play(duration)
        except KeyboardInterrupt:
            console.print("Stopping...")
    console.print(
        f"\nSent {traffic.sent} predictions ({traffic.failures} failed) and "
        f"{traffic.labels} labels. Run `vigil server` to keep exploring "
        f"{settings.home}."
    )


def _prepare_home(home: Path, keep: bool) -> None:
    """Empty the demo's data folder unless ``keep``; refuse to empty one it did not make."""
    if not keep and home.exists() and any(home.iterdir()):
        if not (home / MARKER).exists():
            raise ConfigurationError(
                f"{home} holds data the demo did not make. Pass --keep to use it as it is, "
                "or --home to pick another folder."
            )
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text("made by `vigil demo`; emptied by its next run\n")


STOP = threading.Event()  # set by Ctrl-C or SIGTERM; checked between the demo's steps


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM set :data:`STOP`; the demo's next check (at most a step of its
    start-up, or 0.1 s of traffic, away) raises KeyboardInterrupt. A second signal raises
    at once.

    Raising from the handler itself is not reliable: an interrupt landing in a callback
    whose exceptions Python ignores (SQLAlchemy's weakref callbacks) is printed and lost.
    """

    def interrupt(signum: int, frame: object) -> None:
        if STOP.is_set():
            raise KeyboardInterrupt
        STOP.set()

    STOP.clear()
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _check_stop() -> None:
    """Raise the interrupt a swallowed signal could not (see :func:`_sigterm_as_interrupt`)."""
    if STOP.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def _serving(settings: Settings, url: str) -> Iterator[None]:
    """The vigil server on a thread, ready on ``url``, stopped on exit."""
    import uvicorn

    from vigil.server.app import create_app, proxy_options
    from vigil.store import open_store

    # the server imports polars lazily on its threads while scikit-learn, on this one,
    # checks whether inputs are polars frames: a half-imported module breaks that check
    with contextlib.suppress(ImportError):
        import polars  # noqa: F401
    store = server = thread = None
    try:
        store = open_store(settings.db_url)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, store),
                host=settings.host,
                port=settings.port,
                log_level="warning",
                access_log=False,
                **proxy_options(settings),
            )
        )
        thread = threading.Thread(target=server.run, name="vigil-demo-server", daemon=True)
        thread.start()
        _wait_ready(url, thread)
        _check_stop()
        yield
    finally:
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=10)
        if store is not None:
            store.close()


class _Traffic:
    """The demo's model and its traffic: trained on start, sent through the SDK."""

    def __init__(
        self,
        url: str,
        home: Path,
        rate: float,
        label_delay: float,
        error_rate: float,
        drift_after: float,
        promote_after: float,
    ) -> None:
        self.url, self.home, self.rate = url, home, rate
        self.label_delay, self.error_rate = label_delay, error_rate
        self.drift_after, self.promote_after = drift_after, promote_after
        self.sent = self.labels = self.failures = self.feedback = 0
        self.client: Any = None
        self.mon: Any = None
        self.model: Any = None
        self.started = self.drift_started = 0.0
        self.promoted = False

    def play(self, duration: float | None) -> None:
        """Set up, run until ``duration`` or an interrupt, then deliver and summarise."""
        try:
            self.start()
            self.run(duration)
        except KeyboardInterrupt:
            console.print("Stopping...")
        finally:
            self.close()
            self.summary()

    # -- set-up ----------------------------------------------------------------------------
    def start(self) -> None:
        """Train, register, backfill history, configure rules and open the Monitor."""
        import httpx

        from vigil.cli.demo_model import train

        with console.status("Training the demo model (scikit-learn logistic regression)..."):
            self.model = train()
        _check_stop()
        self.client = httpx.Client(base_url=self.url, timeout=30.0)
        with console.status("Registering versions 1 and 2, backfilling 90 minutes..."):
            for step in (self._register, self._backfill, self._configure):
                step()
                _check_stop()
        self._open_monitor()
        self._banner()

    def _post(self, path: str, body: Any = None, method: str = "POST", **kw: Any) -> Any:
        answer = self.client.request(method, path, json=body, **kw)
        if answer.status_code >= 400:
            raise ConfigurationError(
                f"The demo server refused {method} {path}: {answer.status_code} {answer.text[:300]}"
            )
        return answer.json()

    def _register(self) -> None:
        """The model with its drift reference, versions 1 and 2 (signed artifacts), v1 live."""
        import vigil

        schema = vigil.ModelSchema.infer(self.model.reference[:200], task="binary_classification")
        self._post("/api/v1/models", {"name": MODEL, "schema": schema.to_dict()})
        self._post(f"{API}/reference", {"records": self.model.reference})
        blob = pickle.dumps(self.model.pipeline)
        for version, notes in (
            ("1", "logistic regression"),
            ("2", "logistic regression, new feature pipeline"),
        ):
            self._post(
                f"{API}/versions/{version}/artifact",
                None,
                content=blob,
                params={"filename": "model.pkl", "framework": "sklearn", "notes": notes},
                headers={"Content-Type": "application/octet-stream"},
            )
        self._post(
            f"{API}/aliases/{ALIAS}", {"version": "1", "reason": "first release"}, method="PUT"
        )
        self._post(
            f"{API}/aliases/{ALIAS}/policy",
            {
                "max": {"error_rate": 0.08},
                "min_count": 30,
                "window_s": 60,
                "watch_s": 3600,
                "notify": ["demo-log"],
            },
            method="PUT",
        )

    def _backfill(self) -> None:
        """An hour and a half of version 1 traffic with labels and feedback, then the CBPE fit."""
        import numpy as np

        import vigil
        from vigil.cli.demo_model import make_applicants, predict_many, true_default_probability

        rng = np.random.default_rng(2)
        now = time.time()
        start = now - BACKFILL_MINUTES * 60
        with vigil.Monitor(
            MODEL, version="1", endpoint=self.url, task="binary_classification", batch_size=2000
        ) as mon:
            for minute in range(BACKFILL_MINUTES):
                _check_stop()
                recs = make_applicants(BACKFILL_PER_MINUTE, rng)
                for i, (rec, (out, p)) in enumerate(
                    zip(recs, predict_many(self.model, recs), strict=True)
                ):
                    ts = start + minute * 60 + i * 1.5
                    actual = int(rng.random() < true_default_probability(rec))
                    pid = mon.log_prediction(
                        rec, out, proba=p, ts=ts, latency_s=float(rng.gamma(4.0, 0.0012))
                    )
                    mon.log_label(pid, actual, ts=ts + 5)
                    if i % 10 == 0:
                        mon.log_feedback(pid, 1.0 if out == actual else -1.0, ts=ts + 8)
            mon.flush()
        self._post(f"{API}/quality/reference", {"start": start, "end": now})

    def _configure(self) -> None:
        """A log notifier and the rules: drift, estimated accuracy and its forecast."""
        floor = round(self.model.accuracy - 0.04, 2)
        self._post("/api/v1/notifiers/demo-log", {"type": "log"}, method="PUT")
        rules: list[dict[str, Any]] = [
            {
                "name": "demo-input-drift",
                "metric": "drift_share",
                "op": ">",
                "threshold": 0.15,
                "window": "1m",
                "severity": "warning",
                "summary": "inputs drifted from the training data",
            },
            # on version 1 (the one that stays): its ranking then weighs inputs, segments
            # and hosts, not the short-lived version 2's share of the window
            {
                "name": "demo-estimated-accuracy",
                "metric": "estimated_accuracy",
                "op": "<",
                "threshold": floor,
                "window": "1m",
                "for": "45s",
                "severity": "critical",
                "version": "1",
                "summary": "estimated accuracy (CBPE, no labels needed) fell",
            },
            {
                "name": "demo-accuracy-ahead",
                "kind": "forecast",
                "metric": "estimated_accuracy",
                "op": "<",
                "threshold": floor,
                "window": "1m",
                "horizon": "15m",
                "severity": "warning",
                "summary": "estimated accuracy forecast to fall below the floor",
            },
        ]
        for rule in rules:
            self._post(
                f"/api/v1/rules/{rule['name']}",
                {**rule, "model": MODEL, "notifiers": ["demo-log"]},
                method="PUT",
            )
        self.floor = floor

    def _open_monitor(self) -> None:
        import vigil

        self.mon = vigil.Monitor(
            MODEL,
            endpoint=self.url,
            task="binary_classification",
            spool_dir=self.home / "spool",
            version_from=f"{MODEL}@{ALIAS}",
            follow_interval_s=1.0,
            resources=True,
            resource_interval_s=2.0,
        )

    def _banner(self) -> None:
        url = self.url
        console.print(
            f"[bold]vigil demo[/bold]  model [cyan]{MODEL}[/cyan]@{ALIAS} (v1; v2 "
            f"registered), held-out accuracy {self.model.accuracy:.3f}; data in "
            f"{self.home.resolve()}"
        )
        console.print(
            f"Dashboard: {url}/ui/models/{MODEL}?range=15m   API docs: {url}/docs"
            f"   Prometheus: {url}/metrics"
        )
        console.print(
            f"Alerts:    {url}/ui/alerts   Drift: {url}/ui/models/{MODEL}/drift   Ctrl-C stops.\n"
        )

    # -- the run ---------------------------------------------------------------------------
    def run(self, duration: float | None) -> None:
        """Send ``rate`` predictions a second (and their late labels) with a live view."""
        import numpy as np

        rng = np.random.default_rng(1)
        pending: collections.deque[tuple[float, str, int, int]] = collections.deque()
        self.started = time.time()
        stop_at = self.started + duration if duration else float("inf")
        next_view = next_drift = 0.0
        drift: dict[str, Any] = {}
        with Live(_view({}, {}, self, 0.0), console=console, refresh_per_second=2) as live:
            while time.time() < stop_at:
                _check_stop()
                tick = time.time()
                self._events(tick - self.started)
                self._send(rng, tick - self.started, tick, pending)
                self._deliver_labels(tick, pending)
                if tick >= next_drift:
                    next_drift = tick + 5.0
                    drift = _get(self.client, f"{API}/drift", {"start": tick - 30})
                if tick >= next_view:
                    next_view = tick + 1.0
                    summary = _get(
                        self.client, f"{API}/metrics", {"start": self.started, "step": 60}
                    ).get("summary", {})
                    live.update(_view(summary, drift, self, time.time() - self.started))
                time.sleep(max(0.0, 0.1 - (time.time() - tick)))

    def _events(self, elapsed: float) -> None:
        """The run's script: promote version 2 (the policy rolls it back), then drift."""
        if not self.promoted and 0 <= self.promote_after <= elapsed:
            self.promoted = True
            self._post(
                f"{API}/aliases/{ALIAS}",
                {"version": "2", "reason": "demo: new feature pipeline"},
                method="PUT",
            )
        if not self.drift_started and 0 <= self.drift_after <= elapsed:
            self.drift_started = time.time()

    def _send(
        self,
        rng: Any,
        elapsed: float,
        tick: float,
        pending: collections.deque[tuple[float, str, int, int]],
    ) -> None:
        from vigil.cli.demo_model import make_applicants, true_default_probability

        shift = -0.7 if self.drift_started else 0.0
        for features in make_applicants(max(1, int(self.rate / 10)), rng, shift):
            failed = False
            try:
                with self.mon.serve(features) as obs:
                    # version 2's new feature pipeline times out far more often
                    fail_p = 0.25 if obs.version == "2" else self.error_rate
                    if rng.random() < fail_p:
                        raise TimeoutError("feature store timed out")
                    obs.output, obs.proba = self.model.predict(features)
            except TimeoutError:
                self.failures += 1
                failed = True
            self.sent += 1
            actual = int(rng.random() < true_default_probability(features))
            right = -1 if failed else int(obs.output == actual)
            pending.append((tick + self.label_delay, obs.id, actual, right))

    def _deliver_labels(
        self, tick: float, pending: collections.deque[tuple[float, str, int, int]]
    ) -> None:
        """Labels arrive ``label_delay`` late; one caller in twenty also leaves feedback."""
        while pending and pending[0][0] <= tick:
            _, pid, actual, right = pending.popleft()
            self.mon.log_label(pid, actual)
            self.labels += 1
            if right >= 0 and self.labels % 20 == 0:
                self.mon.log_feedback(pid, 1.0 if right else -1.0)
                self.feedback += 1

    def close(self) -> None:
        """Deliver what the SDK holds (then the server has it all)."""
        if self.mon is not None:
            self.mon.close()

    # -- the summary -----------------------------------------------------------------------
    def summary(self) -> None:
        """Print what fired, the alias history, the forecast and the root-cause ranking."""
        if self.client is None or self.model is None:
            return
        try:
            for line in _summary_lines(self):
                console.print(line, highlight=False, soft_wrap=True)
        except Exception as exc:  # the summary reads a live server; never hide the totals
            console.print(f"(summary incomplete: {exc})")
        finally:
            self.client.close()


def _summary_lines(t: _Traffic) -> Iterator[str]:
    from vigil.cli.demo_model import fmt_ranking

    t.client.post("/api/v1/rules/evaluate")
    yield "\n[bold]What happened[/bold]"
    alerts = _get(t.client, "/api/v1/alerts", {"model": MODEL}).get("alerts", [])
    if not alerts:
        yield "alerts: none fired"
    for alert in alerts:
        yield f"alert {alert['rule']}: {alert['state']}{_cause(t, alert['id'])}"
    history = _get(t.client, f"{API}/aliases/{ALIAS}/history", {}).get("history", [])
    moves = [f"{h.get('action')} → v{h.get('version')}" for h in history]
    yield f"alias {ALIAS}: {', '.join(moves) or 'unchanged'}"
    fc = _get(
        t.client,
        f"{API}/forecast",
        {
            "metric": "estimated_accuracy",
            "horizon": "15m",
            "step": "1m",
            "history": "1h",
            "threshold": t.floor,
            "op": "<",
        },
    )
    if fc.get("crossing"):
        yield f"forecast ({fc['forecast'].get('method')}): {fc['crossing']['summary']}"
    else:
        yield "forecast: not enough history yet"
    quality = _get(t.client, f"{API}/quality", {"start": time.time() - 60})
    estimated = ((quality.get("estimated") or {}).get("summary") or {}).get("accuracy") or {}
    yield (
        f"estimated accuracy (CBPE, last minute): {_num(estimated.get('value'))} (floor {t.floor})"
    )
    start = t.drift_started or t.started
    ranking = _get(
        t.client,
        f"{API}/explain",
        {
            "metric": "estimated_accuracy",
            "start": start,
            "end": time.time(),
            "baseline_start": start - 1800,
            "baseline_end": start,
            "version": "1",
        },
    )
    yield from fmt_ranking(ranking)
    yield (
        f"feedback sent: {t.feedback}; resources sampled every 2 s; dashboard "
        f"{t.url}/ui/models/{MODEL}?range=15m"
    )


def _cause(t: _Traffic, alert_id: int) -> str:
    """`` — cause: ...`` from the ranking in the alert's firing event, or nothing."""
    history = _get(t.client, f"/api/v1/alerts/{alert_id}", {}).get("history", [])
    for event in history:
        ranking = (event.get("details") or {}).get("explain") or {}
        if ranking.get("clear_cause") and ranking.get("candidates"):
            return f" — cause: {ranking['candidates'][0]['summary']}"
    return ""


def _num(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def _get(client: object, path: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        answer = client.get(path, params=params)  # type: ignore[attr-defined]
        return answer.json() if answer.status_code == 200 else {}
    except Exception:  # the view is best-effort; the next refresh tries again
        return {}


def _view(summary: dict[str, Any], drift: dict[str, Any], t: _Traffic, elapsed: float) -> Table:
    def ms(key: str) -> str:
        value = summary.get(key)
        return "-" if value is None else f"{value * 1000:.2f} ms"

    count = summary.get("count", 0)
    version = getattr(t.mon, "version", None) or "1"
    table = Table(title=f"{MODEL}@{ALIAS} (v{version}) — live (server-side rollups)", min_width=60)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("elapsed", f"{elapsed:.0f} s")
    table.add_row("predictions stored (this run)", f"{count}")
    table.add_row("predictions/s", f"{count / elapsed:.1f}" if elapsed > 0 else "-")
    table.add_row(
        "latency p50 / p95 / p99",
        f"{ms('latency_p50_s')} / {ms('latency_p95_s')} / {ms('latency_p99_s')}",
    )
    rate = summary.get("error_rate")
    table.add_row("error rate", "-" if rate is None else f"{rate:.2%}")
    table.add_row("sent by the SDK (failed)", f"{t.sent} ({t.failures})")
    table.add_row("labels sent (delayed) / feedback", f"{t.labels} / {t.feedback}")
    if drift.get("n_current"):
        drifted = ", ".join(drift.get("drifted_columns", [])) or "none"
        table.add_row(
            "drifted features (last 30 s)",
            f"{drifted} ({drift['n_current']} rows, {drift.get('mode')})",
        )
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


def _wait_ready(url: str, thread: threading.Thread, timeout_s: float = 60.0) -> None:
    import httpx

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        _check_stop()
        if not thread.is_alive():
            raise ConfigurationError("The demo server stopped during start-up; see above.")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise ConfigurationError(f"The demo server did not become ready at {url} in {timeout_s} s.")
