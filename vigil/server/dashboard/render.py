"""Jinja2 environment of the dashboard and the filters its templates use."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The template environment (built on first use, then shared)."""
    env = Environment(
        loader=PackageLoader("vigil.server.dashboard", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(count=count, pct=pct, ms=ms, when=when, json_script=json_script)
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def count(value: float | None) -> str:
    """A count or rate, short: 950, 12.3k, 4.5M.

    Examples:
        >>> count(950), count(12345), count(4_500_000), count(2.5), count(None)
        ('950', '12.3k', '4.5M', '2.5', '—')
    """
    if value is None:
        return "—"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.1f}k"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.1f}"


def pct(value: float | None) -> str:
    """A share as a percentage.

    Examples:
        >>> pct(0.01234), pct(0), pct(None)
        ('1.23 %', '0.00 %', '—')
    """
    return "—" if value is None else f"{value * 100:.2f} %"


def ms(seconds: float | None) -> str:
    """Seconds as milliseconds.

    Examples:
        >>> ms(0.01234), ms(2.5), ms(None)
        ('12.3 ms', '2500 ms', '—')
    """
    if seconds is None:
        return "—"
    value = seconds * 1000
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def when(ts: float | None) -> str:
    """Unix seconds as a UTC timestamp.

    Examples:
        >>> when(0), when(None)
        ('1970-01-01 00:00 UTC', '—')
    """
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def json_script(data: Any) -> Markup:
    """JSON safe inside a ``<script type="application/json">`` element."""
    text = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
