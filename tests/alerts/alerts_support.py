"""Helpers for the alerting tests: models with traffic at chosen times, rules, receivers."""

from __future__ import annotations

import time

from support.records import SCHEMA

from vigil.engine.ingest import Ingestor
from vigil.engine.rules import Rule
from vigil.store.alerts import AlertStore

NOW = float(int(time.time() // 60) * 60 - 1800)  # a clock for the test, minute-aligned


class Traffic:
    """Registers models and sends predictions stamped at chosen times."""

    def __init__(self, store) -> None:
        self.store = store
        self.ingestor = Ingestor(store)
        self.n = 0

    def model(self, name: str = "churn") -> None:
        self.ingestor.register_model({"name": name, "schema": SCHEMA})

    def send(self, ts: float, count: int = 10, errors: int = 0, model: str = "churn",
             version: str = "1", latency_s: float = 0.01) -> None:
        records = []
        for i in range(count):
            self.n += 1
            rec = {"id": f"{model}-{self.n}", "version": version, "ts": ts,
                   "latency_s": latency_s, "inputs": {"age": 30 + i, "plan": "pro"},
                   "outputs": i % 2}
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

    def notify(self, rule, note) -> None:
        self.notes.append(note)

    def act(self, rule, note) -> None:
        self.acts.append(note)
