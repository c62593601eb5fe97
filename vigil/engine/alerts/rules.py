"""Alert rules: what to watch, when it is bad, for how long, and who to tell.

A rule is validated once into a frozen :class:`Rule` (from TOML, JSON or the API) and
evaluated by :mod:`vigil.engine.alerts.lifecycle`. Three kinds:

- ``threshold``: ``metric op threshold`` over the last ``window``.
- ``change``: the metric over the last ``window`` compared with the same window
  ``baseline`` earlier (e.g. ``baseline = "7d"``: last week's same hour); ``change = "ratio"``
  compares ``value / baseline`` with the threshold, ``"difference"`` ``value - baseline``.
- ``no_data``: fires when the model sent no prediction in the last ``window``.
- ``forecast``: the metric's series in windows of ``window`` over ``history`` (default
  28d, or 4000 windows when that is shorter) is forecast ``horizon`` ahead; fires when
  the ``level`` (0.8 default, or 0.95) prediction interval crosses ``op threshold``
  within the horizon (:mod:`vigil.engine.insight.forecast`).
- ``anomaly``: the last whole ``window`` of the metric against its robust seasonal
  expectation over ``history``; ``threshold`` is a robust z-score, ``op`` the direction
  (``>`` above, ``<`` below, ``!=`` either) (:mod:`vigil.engine.insight.anomaly`).

A rule watches every version of its model, one ``version``, or the version a registry
``alias`` (e.g. ``production``) points at when it is evaluated.

When a window holds too little data (the metric answers None, or fewer than
``min_count`` predictions), ``on_no_data`` decides: ``keep`` (default; the alert stays as
it is), ``ok`` (counts as healthy) or ``alert`` (counts as bad).

Examples:
    >>> rule = Rule.from_dict({"name": "slow", "model": "churn", "metric": "latency_p95",
    ...                        "op": ">", "threshold": 0.5, "window": "5m", "for": "2m"})
    >>> rule.window_s, rule.for_s, rule.kind
    (300.0, 120.0, 'threshold')
    >>> parse_duration("1h30m")
    5400.0
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from vigil.errors import ValidationFailedError

KINDS = ("threshold", "change", "no_data", "forecast", "anomaly")
LEVELS = (0.8, 0.95)
OPS = (">", ">=", "<", "<=", "==", "!=")
SEVERITIES = ("info", "warning", "critical")
NO_DATA = ("keep", "ok", "alert")
CHANGES = ("ratio", "difference")
RESERVED_PREFIX = "registry:"  # alerts of automatic registry changes (rollbacks, canaries)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_FIELDS = {"name", "model", "version", "alias", "kind", "metric", "op", "threshold", "window",
           "for", "baseline", "change", "min_count", "on_no_data", "severity", "notifiers",
           "actions", "labels", "summary", "repeat", "enabled", "horizon", "history",
           "level"}


def parse_duration(value: Any, field_name: str = "duration") -> float:
    """Seconds from ``"90s"``, ``"5m"``, ``"1h30m"``, ``"7d"`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValidationFailedError(f"'{field_name}' must be a duration like '5m'. Got {value!r}.")
    if isinstance(value, int | float):
        if value < 0:
            raise ValidationFailedError(f"'{field_name}' must not be negative. Got {value!r}.")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        parts = _DURATION.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            return float(sum(float(n) * _UNIT[u] for n, u in parts))
    raise ValidationFailedError(
        f"'{field_name}' must be a duration like '30s', '5m', '1h30m', '7d' or a number of "
        f"seconds. Got {value!r}.",
        details=[{"field": field_name, "reason": "not a duration"}])


def format_duration(seconds: float) -> str:
    """``5400.0`` -> ``"1h30m"`` (the shortest exact form)."""
    if seconds == 0:
        return "0s"
    out, rest = [], seconds
    for unit in ("w", "d", "h", "m", "s"):
        n = int(rest // _UNIT[unit])
        if n:
            out.append(f"{n}{unit}")
            rest -= n * _UNIT[unit]
    if rest > 1e-9:
        out.append(f"{round(rest * 1000)}ms")
    return "".join(out)


def _bad(field_name: str, reason: str, got: Any) -> ValidationFailedError:
    return ValidationFailedError(
        f"Rule field '{field_name}' {reason}. Got {got!r}.",
        details=[{"field": field_name, "reason": reason}])


def _names(value: Any, field_name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise _bad(field_name, "must be a list of names", value)
    return tuple(value)


@dataclass(frozen=True, slots=True)
class Rule:
    """One validated alert rule (see the module docstring for the semantics)."""

    name: str
    metric: str
    model: str = "*"
    version: str | None = None
    alias: str | None = None
    kind: str = "threshold"
    op: str = ">"
    threshold: float = 0.0
    window_s: float = 300.0
    for_s: float = 0.0
    baseline_s: float | None = None
    change: str = "ratio"
    min_count: int = 0
    on_no_data: str = "keep"
    severity: str = "warning"
    notifiers: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    summary: str | None = None
    repeat_s: float = 0.0
    enabled: bool = True
    horizon_s: float | None = None  # forecast rules
    history_s: float | None = None  # forecast and anomaly rules
    level: float | None = None  # forecast rules: the interval that must cross

    @classmethod
    def from_dict(cls, data: Any) -> Rule:
        """Validate a rule given as a mapping (TOML table, JSON object).

        Raises:
            ValidationFailedError: naming the field and the reason.
        """
        from vigil.engine.metric_sources import get_metric

        if not isinstance(data, dict):
            raise ValidationFailedError(f"A rule must be a table/object. Got {data!r}.")
        unknown = set(data) - _FIELDS
        if unknown:
            raise _bad(sorted(unknown)[0], f"is unknown; allowed: {', '.join(sorted(_FIELDS))}",
                       data[sorted(unknown)[0]])
        name = data.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise _bad("name", "must be 1-200 letters, digits, '_', '.', ':' or '-'", name)
        if name.startswith(RESERVED_PREFIX):
            raise _bad("name", f"must not start with {RESERVED_PREFIX!r} (vigil's own alerts "
                       "of automatic changes)", name)
        kind = data.get("kind", "threshold")
        if kind not in KINDS:
            raise _bad("kind", f"must be one of {', '.join(KINDS)}", kind)
        metric = data.get("metric", "count" if kind == "no_data" else None)
        if not isinstance(metric, str):
            raise _bad("metric", "is required (see `vigil rules metrics`)", metric)
        try:
            get_metric(metric)
        except ValueError as exc:
            raise _bad("metric", str(exc).rstrip("."), metric) from None
        model = data.get("model", "*")
        if not isinstance(model, str) or not model:
            raise _bad("model", "must be a model name or '*' for every model", model)
        version = data.get("version")
        if version is not None and (not isinstance(version, str) or not version):
            raise _bad("version", "must be a version string", version)
        alias = data.get("alias")
        if alias is not None and (not isinstance(alias, str) or not alias):
            raise _bad("alias", "must be a registry alias such as 'production'", alias)
        if alias is not None and (version is not None or model == "*"):
            raise _bad("alias", "needs a named model and no 'version' (the alias picks it)",
                       alias)
        op = data.get("op", "<" if kind == "no_data" else ">")
        if op not in OPS:
            raise _bad("op", f"must be one of {' '.join(OPS)}", op)
        default_threshold = 1.0 if kind == "no_data" else None
        threshold = data.get("threshold", default_threshold)
        if threshold is None:
            raise _bad("threshold", "is required (a number)", threshold)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or \
                threshold != threshold:
            raise _bad("threshold", "must be a number", threshold)
        window_s = parse_duration(data.get("window", "5m"), "window")
        if window_s < 60:
            raise _bad("window", "must be at least 1m (rollups are per minute)",
                       data.get("window"))
        baseline = data.get("baseline")
        baseline_s = None if baseline is None else parse_duration(baseline, "baseline")
        if kind == "change" and not baseline_s:
            raise _bad("baseline", "is required for a change rule (e.g. '7d')", baseline)
        change = data.get("change", "ratio")
        if change not in CHANGES:
            raise _bad("change", f"must be one of {', '.join(CHANGES)}", change)
        min_count = data.get("min_count", 0)
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 0:
            raise _bad("min_count", "must be a non-negative integer", min_count)
        on_no_data = data.get("on_no_data", "keep")
        if on_no_data not in NO_DATA:
            raise _bad("on_no_data", f"must be one of {', '.join(NO_DATA)}", on_no_data)
        severity = data.get("severity", "warning")
        if severity not in SEVERITIES:
            raise _bad("severity", f"must be one of {', '.join(SEVERITIES)}", severity)
        labels = data.get("labels", {})
        if not isinstance(labels, dict) or not all(
                isinstance(k, str) and _LABEL.match(k) and isinstance(v, str)
                for k, v in labels.items()):
            raise _bad("labels", "must be a table of string values with names like "
                       "'team' (letters, digits, '_')", labels)
        summary = data.get("summary")
        if summary is not None and not isinstance(summary, str):
            raise _bad("summary", "must be a string", summary)
        enabled = data.get("enabled", True)
        if not isinstance(enabled, bool):
            raise _bad("enabled", "must be true or false", enabled)
        horizon_s, history_s, level = _insight_fields(kind, data, window_s, op)
        return cls(
            name=name, metric=metric, model=model, version=version, alias=alias, kind=kind,
            op=op,
            threshold=float(threshold), window_s=window_s,
            for_s=parse_duration(data.get("for", 0), "for"), baseline_s=baseline_s,
            change=change, min_count=min_count, on_no_data=on_no_data, severity=severity,
            notifiers=_names(data.get("notifiers"), "notifiers"),
            actions=_names(data.get("actions"), "actions"), labels=dict(labels),
            summary=summary, repeat_s=parse_duration(data.get("repeat", 0), "repeat"),
            enabled=enabled, horizon_s=horizon_s, history_s=history_s, level=level)

    def to_dict(self) -> dict[str, Any]:
        """The rule as it is stored and served (durations as strings, defaults included)."""
        out = asdict(self)
        out["window"] = format_duration(out.pop("window_s"))
        out["for"] = format_duration(out.pop("for_s"))
        baseline = out.pop("baseline_s")
        out["baseline"] = None if baseline is None else format_duration(baseline)
        out["repeat"] = format_duration(out.pop("repeat_s"))
        out["notifiers"], out["actions"] = list(self.notifiers), list(self.actions)
        for key in ("horizon", "history"):  # only forecast and anomaly rules have them
            value = out.pop(f"{key}_s")
            if value is not None:
                out[key] = format_duration(value)
        if out["level"] is None:
            out.pop("level")
        return out

    def holds(self, value: float) -> bool:
        """Whether ``value`` (the metric, or its change) is in the alerting condition."""
        t = self.threshold
        return {">": value > t, ">=": value >= t, "<": value < t, "<=": value <= t,
                "==": value == t, "!=": value != t}[self.op]

    def describe(self) -> str:
        """One line: ``error_rate > 0.05 over 5m for 2m``."""
        scope = self.model + (f"@{self.alias}" if self.alias else
                              f":{self.version}" if self.version else "")
        if self.kind == "no_data":
            return f"{scope}: no predictions for {format_duration(self.window_s)}"
        what = self.metric
        if self.kind == "forecast":
            return (f"{scope}: {self.metric} forecast ({round((self.level or 0.8) * 100)} % "
                    f"interval) {self.op} {self.threshold:g} within "
                    f"{format_duration(self.horizon_s or 0)}")
        if self.kind == "anomaly":
            side = {">": "above", ">=": "above", "<": "below", "<=": "below"}.get(
                self.op, "away from")
            return (f"{scope}: {self.metric} over {format_duration(self.window_s)} more than "
                    f"{self.threshold:g} robust z {side} its seasonal expectation")
        if self.kind == "change":
            base = format_duration(self.baseline_s or 0)
            what = (f"{self.metric} / ({self.metric} {base} earlier)" if self.change == "ratio"
                    else f"{self.metric} - ({self.metric} {base} earlier)")
        text = f"{scope}: {what} {self.op} {self.threshold:g} over {format_duration(self.window_s)}"
        return text + (f" for {format_duration(self.for_s)}" if self.for_s else "")


def _insight_fields(kind: str, data: dict[str, Any], window_s: float,
                    op: str) -> tuple[float | None, float | None, float | None]:
    """Validate ``horizon``, ``history`` and ``level`` (forecast and anomaly rules only)."""
    for key, kinds in (("horizon", ("forecast",)), ("history", ("forecast", "anomaly")),
                       ("level", ("forecast",))):
        if data.get(key) is not None and kind not in kinds:
            raise _bad(key, f"applies only to rules of kind {' or '.join(kinds)}",
                       data[key])
    if kind not in ("forecast", "anomaly"):
        return None, None, None
    default = min(28 * 86400.0, 4000 * window_s)  # 28 days, or 4000 windows when shorter
    history_s = parse_duration(data.get("history", default), "history")
    if history_s < 10 * window_s:
        raise _bad("history", "must hold at least 10 windows", data.get("history"))
    if history_s / window_s > 5000:
        raise _bad("history", "must hold at most 5000 windows (use a larger 'window')",
                   data.get("history"))
    if kind == "anomaly":
        if op == "==":
            raise _bad("op", "of an anomaly rule must be >, >=, <, <= or != (direction)", op)
        return None, history_s, None
    if op not in (">", ">=", "<", "<="):
        raise _bad("op", "of a forecast rule must be >, >=, < or <=", op)
    if data.get("horizon") is None:
        raise _bad("horizon", "is required for a forecast rule (e.g. '6h')", None)
    horizon_s = parse_duration(data["horizon"], "horizon")
    if not window_s <= horizon_s <= 2000 * window_s:
        raise _bad("horizon", "must be 1 to 2000 windows", data["horizon"])
    level = data.get("level", 0.8)
    if level not in LEVELS:
        raise _bad("level", "must be 0.8 or 0.95", level)
    return horizon_s, history_s, float(level)
