"""Rule validation: every bad field is named with its reason; durations; the scheduler loop."""

from __future__ import annotations

import asyncio
import time

import pytest
from support.aio import run_async

from vigil.engine.alerts.rules import Rule, format_duration, parse_duration
from vigil.errors import ValidationFailedError

BASE = {"name": "r", "metric": "error_rate", "threshold": 0.1}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("7d", 604800),
        ("2w", 1209600),
        ("250ms", 0.25),
        (90, 90),
        (1.5, 1.5),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("bad", ["5 m", "m5", "5x", "", "1h-1m", True, -1, None, [1]])
def test_bad_durations_name_the_field(bad):
    with pytest.raises(ValidationFailedError, match="'for'"):
        parse_duration(bad, "for")


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"name": "bad name!"}, "name", "letters, digits"),
        ({"metric": "accuracyy"}, "metric", "Unknown metric 'accuracyy'"),
        ({"metric": None}, "metric", "is required"),
        ({"op": "=>"}, "op", "must be one of"),
        ({"threshold": "high"}, "threshold", "must be a number"),
        ({"threshold": float("nan")}, "threshold", "must be a number"),
        ({"window": "30s"}, "window", "at least 1m"),
        ({"kind": "change"}, "baseline", "is required for a change rule"),
        ({"kind": "seasonal"}, "kind", "must be one of"),  # anomaly is a kind now
        ({"severity": "page"}, "severity", "info, warning, critical"),
        ({"on_no_data": "panic"}, "on_no_data", "keep, ok, alert"),
        ({"min_count": -1}, "min_count", "non-negative integer"),
        ({"notifiers": "a,b"}, None, None),  # a single name is accepted
        ({"notifiers": [1]}, "notifiers", "list of names"),
        ({"labels": {"bad-name": "x"}}, "labels", "names like"),
        ({"enabled": "yes"}, "enabled", "true or false"),
        ({"treshold": 1}, "treshold", "is unknown"),
        ({"alias": "production"}, "alias", "needs a named model"),
        ({"model": "m", "version": "1", "alias": "production"}, "alias", "no 'version'"),
        ({"for": "soon"}, "for", "must be a duration"),
        ({"for_": "5m"}, "for_", "is unknown"),
        ({"threshold": True}, "threshold", "must be a number"),
        ({"model": ""}, "model", "model name or '*'"),
        ({"labels": {"team": 1}}, "labels", "names like"),
        ({"summary": 3}, "summary", "must be a string"),
        ({"history": "1d"}, "history", "applies only to rules of kind forecast or anomaly"),
        ({"kind": "forecast", "horizon": "6h", "level": 0.9}, "level", "0.8 or 0.95"),
        ({"kind": "forecast"}, "horizon", "is required for a forecast rule"),
        ({"name": "registry:x"}, "name", "must not start with"),
        ({"name": None, "treshold": 1}, "treshold", "is unknown"),  # a typo before a gap
    ],
)
def test_bad_fields_are_named(change, field, reason):
    spec = {**BASE, **change}
    if field is None:
        assert Rule.from_dict(spec).notifiers == ("a,b",)
        return
    with pytest.raises(ValidationFailedError) as info:
        Rule.from_dict(spec)
    assert info.value.details[0]["field"] == field
    assert reason in info.value.message


def test_kind_dependent_defaults_are_filled_declaratively():
    forecast = Rule.from_dict({**BASE, "kind": "forecast", "horizon": "6h", "window": "1h"})
    assert (forecast.level, forecast.history_s, forecast.horizon_s) == (
        0.8,
        28 * 86400.0,
        6 * 3600.0,
    )
    assert Rule.from_dict({**BASE, "for": 90}).for_s == 90.0
    assert Rule.from_dict({**BASE, "threshold": 1}).threshold == 1.0


def test_round_trip_and_describe():
    rule = Rule.from_dict(
        {
            **BASE,
            "model": "churn",
            "version": "3",
            "kind": "change",
            "baseline": "7d",
            "window": "1h",
            "for": "5m",
            "notifiers": ["a"],
            "labels": {"team": "ml"},
        }
    )
    assert Rule.from_dict({k: v for k, v in rule.to_dict().items() if v is not None}) == rule
    assert rule.describe() == ("churn:3: error_rate / (error_rate 1w earlier) > 0.1 over 1h for 5m")
    silent = Rule.from_dict({"name": "s", "kind": "no_data", "window": "15m"})
    assert (silent.metric, silent.op, silent.threshold) == ("count", "<", 1.0)
    assert silent.describe() == "*: no predictions for 15m"


def test_scheduler_survives_failures_and_stops_at_once():
    from vigil.engine.alerts.scheduler import RuleScheduler

    class Failing:
        metrics = None
        calls = 0

        def evaluate(self):
            Failing.calls += 1
            raise RuntimeError("boom")

    class Dispatcher:
        closed = False

        def close(self):
            Dispatcher.closed = True

    async def main():
        scheduler = RuleScheduler(Failing(), Dispatcher(), interval_s=0.02)
        scheduler.start()
        await asyncio.sleep(0.2)
        scheduler.interval_s = 3600  # a long wait, cut short by stop()
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await scheduler.stop()
        return scheduler.rounds, time.monotonic() - started

    rounds, stop_s = run_async(main())
    assert rounds >= 3 and Failing.calls == rounds
    assert stop_s < 2 and Dispatcher.closed
