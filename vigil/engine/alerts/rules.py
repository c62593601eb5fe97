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
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from vigil.engine.durations import format_duration, parse_duration
from vigil.errors import ValidationFailedError

Kind = Literal["threshold", "change", "no_data", "forecast", "anomaly"]
Op = Literal[">", ">=", "<", "<=", "==", "!="]
Severity = Literal["info", "warning", "critical"]
NoData = Literal["keep", "ok", "alert"]
Change = Literal["ratio", "difference"]
KINDS: tuple[str, ...] = get_args(Kind)
OPS: tuple[str, ...] = get_args(Op)
SEVERITIES: tuple[str, ...] = get_args(Severity)
NO_DATA: tuple[str, ...] = get_args(NoData)
CHANGES: tuple[str, ...] = get_args(Change)
LEVELS: tuple[float, ...] = (0.8, 0.95)
RESERVED_PREFIX = "registry:"  # alerts of automatic registry changes (rollbacks, canaries)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")

__all__ = [
    "CHANGES",
    "KINDS",
    "LEVELS",
    "NO_DATA",
    "OPS",
    "RESERVED_PREFIX",
    "SEVERITIES",
    "Rule",
    "RuleSpec",
    "format_duration",
    "parse_duration",
]


def _bad(field_name: str, reason: str, got: Any) -> ValidationFailedError:
    return ValidationFailedError(
        f"Rule field '{field_name}' {reason}. Got {got!r}.",
        details=[{"field": field_name, "reason": reason}],
    )


def _names(value: Any, field_name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise _bad(field_name, "must be a list of names", value)
    return tuple(value)


def _duration(field_name: str) -> BeforeValidator:
    """A duration field: ``"5m"`` or seconds in, seconds out (None stays None)."""
    return BeforeValidator(lambda v: None if v is None else parse_duration(v, field_name))


def _names_of(field_name: str) -> BeforeValidator:
    return BeforeValidator(lambda v: _names(v, field_name))


def _level(value: Any) -> Any:
    if value is not None and (isinstance(value, bool) or value not in LEVELS):
        raise _bad("level", _REASONS["level"], value)
    return value


def _label_names(value: Any) -> Any:
    if isinstance(value, dict) and not all(isinstance(k, str) and _LABEL.match(k) for k in value):
        raise _bad("labels", _REASONS["labels"], value)
    return value


# The reason given when a field's value has the wrong type or is not one of its choices.
_REASONS = {
    "name": "must be 1-200 letters, digits, '_', '.', ':' or '-'",
    "kind": f"must be one of {', '.join(KINDS)}",
    "metric": "is required (see `vigil rules metrics`)",
    "model": "must be a model name or '*' for every model",
    "version": "must be a version string",
    "alias": "must be a registry alias such as 'production'",
    "op": f"must be one of {' '.join(OPS)}",
    "threshold": "must be a number",
    "change": f"must be one of {', '.join(CHANGES)}",
    "min_count": "must be a non-negative integer",
    "on_no_data": f"must be one of {', '.join(NO_DATA)}",
    "severity": f"must be one of {', '.join(SEVERITIES)}",
    "labels": "must be a table of string values with names like 'team' (letters, digits, '_')",
    "summary": "must be a string",
    "enabled": "must be true or false",
    "level": "must be 0.8 or 0.95",
}
_Text = Annotated[str, Field(min_length=1)]


class RuleSpec(BaseModel):
    """A rule as written (TOML table, JSON object): the declared shape :meth:`Rule.from_dict`
    validates against. Durations arrive as seconds; kind-dependent defaults and the checks
    across fields are in :meth:`_across`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: Annotated[str, Field(pattern=_NAME.pattern)]
    kind: Kind = "threshold"
    metric: str | None = None  # "count" for no_data rules
    model: _Text = "*"
    version: _Text | None = None
    alias: _Text | None = None
    op: Op | None = None  # ">" (no_data rules: "<")
    threshold: int | float | None = None  # required (no_data rules: 1)
    window: Annotated[float, _duration("window")] = 300.0
    for_: Annotated[float, _duration("for"), Field(alias="for")] = 0.0
    baseline: Annotated[float | None, _duration("baseline")] = None
    change: Change = "ratio"
    min_count: Annotated[int, Field(ge=0)] = 0
    on_no_data: NoData = "keep"
    severity: Severity = "warning"
    notifiers: Annotated[tuple[str, ...], _names_of("notifiers")] = ()
    actions: Annotated[tuple[str, ...], _names_of("actions")] = ()
    labels: Annotated[dict[str, str], BeforeValidator(_label_names)] = Field(default_factory=dict)
    summary: str | None = None
    repeat: Annotated[float, _duration("repeat")] = 0.0
    enabled: bool = True
    horizon: Annotated[float | None, _duration("horizon")] = None
    history: Annotated[float | None, _duration("history")] = None
    level: Annotated[float | None, BeforeValidator(_level)] = None

    @model_validator(mode="after")
    def _across(self) -> RuleSpec:
        """Checks that involve more than one field, in the order a reader would make them."""
        from vigil.engine.metric_sources import get_metric

        if self.name.startswith(RESERVED_PREFIX):
            raise _bad(
                "name",
                f"must not start with {RESERVED_PREFIX!r} (vigil's own alerts "
                "of automatic changes)",
                self.name,
            )
        no_data = self.kind == "no_data"
        metric = self.metric if self.metric is not None else "count" if no_data else None
        if metric is None:
            raise _bad("metric", _REASONS["metric"], None)
        try:
            get_metric(metric)
        except ValueError as exc:
            raise _bad("metric", str(exc).rstrip("."), metric) from None
        if self.alias is not None and (self.version is not None or self.model == "*"):
            raise _bad(
                "alias", "needs a named model and no 'version' (the alias picks it)", self.alias
            )
        threshold = self.threshold if self.threshold is not None else 1.0 if no_data else None
        if threshold is None:
            raise _bad("threshold", "is required (a number)", None)
        if threshold != threshold:
            raise _bad("threshold", _REASONS["threshold"], threshold)
        if self.window < 60:
            raise _bad("window", "must be at least 1m (rollups are per minute)", self.window)
        if self.kind == "change" and not self.baseline:
            raise _bad("baseline", "is required for a change rule (e.g. '7d')", self.baseline)
        self.metric, self.threshold = metric, float(threshold)  # kind-dependent defaults
        self.op = self.op or ("<" if no_data else ">")
        self._insight_fields()
        return self

    def _insight_fields(self) -> None:
        """``horizon``, ``history`` and ``level``: forecast and anomaly rules only."""
        kind, op, window = self.kind, self.op, self.window
        for key, kinds in (
            ("horizon", ("forecast",)),
            ("history", ("forecast", "anomaly")),
            ("level", ("forecast",)),
        ):
            if getattr(self, key) is not None and kind not in kinds:
                raise _bad(
                    key, f"applies only to rules of kind {' or '.join(kinds)}", getattr(self, key)
                )
        if kind not in ("forecast", "anomaly"):
            return
        if self.history is None:  # 28 days, or 4000 windows when shorter
            self.history = min(28 * 86400.0, 4000 * window)
        history = self.history or 0.0
        if history < 10 * window:
            raise _bad("history", "must hold at least 10 windows", format_duration(history))
        if history / window > 5000:
            raise _bad(
                "history",
                "must hold at most 5000 windows (use a larger 'window')",
                format_duration(history),
            )
        if kind == "anomaly":
            if op == "==":
                raise _bad("op", "of an anomaly rule must be >, >=, <, <= or != (direction)", op)
            return
        if op not in (">", ">=", "<", "<="):
            raise _bad("op", "of a forecast rule must be >, >=, < or <=", op)
        if self.horizon is None:
            raise _bad("horizon", "is required for a forecast rule (e.g. '6h')", None)
        if not window <= self.horizon <= 2000 * window:
            raise _bad("horizon", "must be 1 to 2000 windows", format_duration(self.horizon))
        if self.level is None:
            self.level = 0.8


def _first_error(exc: ValidationError, data: dict[str, Any]) -> ValidationFailedError:
    """The first problem of ``exc`` as vigil's error naming the field and the reason
    (an unknown field first: it is most likely a typo of the field that looks missing)."""
    errors = exc.errors()
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, ValidationFailedError):
        return cause  # raised by a validator with its own message
    name = str(err["loc"][0]) if err["loc"] else "rule"
    if err["type"] == "missing":
        return _bad(name, _REASONS.get(name, "is required"), None)
    if err["type"] == "extra_forbidden":
        allowed = sorted(f.alias or n for n, f in RuleSpec.model_fields.items())
        return _bad(name, f"is unknown; allowed: {', '.join(allowed)}", data.get(name))
    return _bad(name, _REASONS.get(name, err["msg"]), data.get(name, err.get("input")))


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
        """Validate a rule given as a mapping (TOML table, JSON object) against
        :class:`RuleSpec`.

        Raises:
            ValidationFailedError: naming the field and the reason.
        """
        if not isinstance(data, dict):
            raise ValidationFailedError(f"A rule must be a table/object. Got {data!r}.")
        try:
            spec = RuleSpec.model_validate(data)
        except ValidationError as exc:
            raise _first_error(exc, data) from None
        return cls(
            name=spec.name,
            metric=spec.metric or "",
            model=spec.model,
            version=spec.version,
            alias=spec.alias,
            kind=spec.kind,
            op=spec.op or ">",
            threshold=float(spec.threshold or 0.0),
            window_s=spec.window,
            for_s=spec.for_,
            baseline_s=spec.baseline,
            change=spec.change,
            min_count=spec.min_count,
            on_no_data=spec.on_no_data,
            severity=spec.severity,
            notifiers=spec.notifiers,
            actions=spec.actions,
            labels=dict(spec.labels),
            summary=spec.summary,
            repeat_s=spec.repeat,
            enabled=spec.enabled,
            horizon_s=spec.horizon,
            history_s=spec.history,
            level=spec.level,
        )

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
        return {
            ">": value > t,
            ">=": value >= t,
            "<": value < t,
            "<=": value <= t,
            "==": value == t,
            "!=": value != t,
        }[self.op]

    def describe(self) -> str:
        """One line: ``error_rate > 0.05 over 5m for 2m``."""
        scope = self.model + (
            f"@{self.alias}" if self.alias else f":{self.version}" if self.version else ""
        )
        if self.kind == "no_data":
            return f"{scope}: no predictions for {format_duration(self.window_s)}"
        what = self.metric
        if self.kind == "forecast":
            return (
                f"{scope}: {self.metric} forecast ({round((self.level or 0.8) * 100)} % "
                f"interval) {self.op} {self.threshold:g} within "
                f"{format_duration(self.horizon_s or 0)}"
            )
        if self.kind == "anomaly":
            side = {">": "above", ">=": "above", "<": "below", "<=": "below"}.get(
                self.op, "away from"
            )
            return (
                f"{scope}: {self.metric} over {format_duration(self.window_s)} more than "
                f"{self.threshold:g} robust z {side} its seasonal expectation"
            )
        if self.kind == "change":
            base = format_duration(self.baseline_s or 0)
            what = (
                f"{self.metric} / ({self.metric} {base} earlier)"
                if self.change == "ratio"
                else f"{self.metric} - ({self.metric} {base} earlier)"
            )
        text = f"{scope}: {what} {self.op} {self.threshold:g} over {format_duration(self.window_s)}"
        return text + (f" for {format_duration(self.for_s)}" if self.for_s else "")
