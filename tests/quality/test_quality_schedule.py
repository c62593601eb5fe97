"""Cron schedules of evaluations (UTC, five fields)."""

from __future__ import annotations

import datetime as dt

import pytest

from vigil.engine.quality.schedule import next_cron, parse_cron
from vigil.errors import InvalidParameterError


def _at(*args):
    return dt.datetime(*args, tzinfo=dt.UTC).timestamp()


def _fmt(ts):
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %a %H:%M")


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("*/15 * * * *", (2026, 1, 1, 10, 7), "2026-01-01 Thu 10:15"),
        ("0 9 * * 1", (2026, 1, 1, 10, 7), "2026-01-05 Mon 09:00"),  # next Monday
        ("0 9 * * 1-5", (2026, 1, 2, 9, 0), "2026-01-05 Mon 09:00"),  # strictly after, skip weekend
        ("30 2 29 2 *", (2026, 3, 1, 0, 0), "2028-02-29 Tue 02:30"),  # leap day
        ("0 0 1 */6 *", (2026, 2, 10, 0, 0), "2026-07-01 Wed 00:00"),
        ("5,35 23 31 12 0,7", (2026, 1, 1, 0, 0), "2028-12-31 Sun 23:05"),  # day AND weekday
    ],
)
def test_next_cron(expr, after, expected):
    assert _fmt(next_cron(expr, _at(*after))) == expected


@pytest.mark.parametrize(
    ("expr", "word"),
    [
        ("* * * *", "five fields"),
        ("60 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day"),
        ("*/0 * * * *", "step"),
        ("a * * * *", "not a number"),
    ],
)
def test_bad_cron_names_the_field(expr, word):
    with pytest.raises(InvalidParameterError, match=word):
        parse_cron(expr)


def test_impossible_cron_is_refused():
    with pytest.raises(InvalidParameterError, match="never matches"):
        next_cron("0 0 31 2 *", _at(2026, 1, 1))
