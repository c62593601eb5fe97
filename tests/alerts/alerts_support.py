"""Helpers for the alerting tests: models with traffic at chosen times, rules, receivers."""

from __future__ import annotations

import time

from support.records import SCHEMA

from vigil.engine.alerts.rules import Rule
from vigil.engine.ingest.ingestor import Ingestor
from vigil.notify.base import Notification
from vigil.store.alerts.queries import AlertStore

NOW = float(int(time.time() // 60) * 60 - 1800)  # a clock for the test, minute-aligned


class Traffic:
    """Registers models and sends predictions stamped at chosen times."""

    def __init__(self, store, start: int = 0) -> None:
        self.store = store
        self.ingestor = Ingestor(store)
        self.n = start  # prediction ids are f"{model}-{n}"

    def model(self, name: str = "churn") -> None:
        self.ingestor.register_model({"name": name, "schema": SCHEMA})

    def send(
        self,
        ts: float,
        count: int = 10,
        errors: int = 0,
        model: str = "churn",
        version: str = "1",
        latency_s: float = 0.01,
    ) -> None:
        records = []
        for i in range(count):
            self.n += 1
            rec = {
                "id": f"{model}-{self.n}",
                "version": version,
                "ts": ts,
                "latency_s": latency_s,
                "inputs": {"age": 30 + i, "plan": "pro"},
                "outputs": i % 2,
            }
            if i < errors:
                rec["error"] = "boom"
            records.append(rec)
        result = self.ingestor.ingest_predictions(model, records)
        assert result.accepted == count, result.to_dict()


def put_rule(store, **spec) -> Rule:
    rule = Rule.from_dict(spec)
    AlertStore(store).put_rule(rule.to_dict())
    return rule


class Recorder:
    """A dispatcher that records what the engine hands it."""

    def __init__(self) -> None:
        self.notes: list = []
        self.acts: list = []

    def plan(self, rule, note, *, act: bool) -> list[dict]:
        entries = [{"kind": "notify", "target": "recorder", "payload": note.to_dict()}]
        if act and rule.actions:
            entries.append({"kind": "action", "target": "recorder", "payload": note.to_dict()})
        return entries

    def start(self, queued) -> None:
        for _, entry in queued:
            note = Notification(**entry["payload"])
            (self.notes if entry["kind"] == "notify" else self.acts).append(note)

    def recover(self) -> int:
        return 0


class Receiver:
    """A real local HTTP server that records each request and answers scripted statuses."""

    def __init__(self, statuses: list[int] | None = None, delay_s: float = 0.0) -> None:
        import http.server
        import threading

        self.requests: list[dict] = []
        self.statuses = list(statuses or [])
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                time.sleep(delay_s)
                length = int(self.headers.get("content-length") or 0)
                outer.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length),
                    }
                )
                status = outer.statuses.pop(0) if outer.statuses else 202
                body = b'{"status": "success"}' if status < 300 else b'{"error": "no"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def json(self, i: int = -1) -> dict:
        import orjson

        return orjson.loads(self.requests[i]["body"])


def note(status: str = "firing", **over):
    """A notification as the engine makes one."""
    from vigil.notify import Notification

    values = {
        "status": status,
        "alert_id": 7,
        "rule": "errors",
        "fingerprint": "f" * 32,
        "labels": {
            "alertname": "errors",
            "model": "churn",
            "metric": "error_rate",
            "severity": "critical",
        },
        "severity": "critical",
        "summary": "churn: error_rate > 0.05 over 5m",
        "value": 0.12,
        "threshold": 0.05,
        "started_at": 1_700_000_000.0,
        "ended_at": 1_700_000_600.0 if status == "resolved" else None,
    }
    values.update(over)
    return Notification(**values)
