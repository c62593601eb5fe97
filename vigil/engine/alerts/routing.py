"""Who hears about an alert: label routes and inhibition, configured as code.

- ``[routes.NAME]`` with ``match = {severity = "critical", team = "ml"}`` and
  ``notifiers = [...]``: every alert whose labels (its rule's labels, ``model``,
  ``metric``, ``severity`` and ``alertname``) match all the matchers is also sent to those
  notifiers, besides the ones its rule names. Routes let a team own its notifiers without
  editing every rule.
- ``[inhibit.NAME]`` with ``source``, ``target`` matchers and ``equal = ["model"]``: while
  an alert matching ``source`` fires, notifications of alerts matching ``target`` that
  share the ``equal`` labels are held back (a firing "model down" holds back that
  model's latency alerts). The held-back alert still changes state and its history says
  ``inhibited``; a resolved notification is held back when the firing one was.

- ``group_by = ["model", "severity"]`` on a route groups its notifications as
  Alertmanager does: alerts sharing those labels' values form one group; the first
  notification of a new group waits ``group_wait`` (default 30 s) to collect the alerts
  that arrive together, and lists them all; changes after that (new alerts, resolutions)
  are sent together at most every ``group_interval`` (default 5 min). See
  :mod:`vigil.notify.grouping`.

Both are stored beside notifiers and actions (categories ``route`` and ``inhibit``) and
applied with ``vigil rules apply``.
"""

from __future__ import annotations

import re
from typing import Any

from vigil.errors import ValidationFailedError

_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def _matchers(category: str, name: str, key: str, value: Any, *, required: bool) -> dict[str, str]:
    if value is None and not required:
        return {}
    if (
        not isinstance(value, dict)
        or not value
        or not all(
            isinstance(k, str) and _LABEL.match(k) and isinstance(v, str) for k, v in value.items()
        )
    ):
        raise ValidationFailedError(
            f"{category} {name!r}: '{key}' must be a table of label = \"value\" matchers, "
            f'e.g. {{severity = "critical"}}. Got {value!r}.',
            details=[{"field": f"{category}.{name}.{key}", "reason": "not label matchers"}],
        )
    return dict(value)


GROUP_WAIT_S = 30.0
GROUP_INTERVAL_S = 300.0
_ROUTE_FIELDS = ("match", "notifiers", "group_by", "group_wait", "group_interval")


def _grouping(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The route's grouping settings, normalised (none without ``group_by``)."""
    from vigil.engine.alerts.rules import parse_duration

    if "group_by" not in config:
        extra = sorted({"group_wait", "group_interval"} & set(config))
        if extra:
            raise ValidationFailedError(
                f"route {name!r}: {extra[0]!r} needs 'group_by' (the labels to group by).",
                details=[{"field": f"routes.{name}.{extra[0]}", "reason": "needs group_by"}],
            )
        return {}
    group_by = config["group_by"]
    if (
        not isinstance(group_by, list)
        or not group_by
        or not all(isinstance(g, str) and _LABEL.match(g) for g in group_by)
    ):
        raise ValidationFailedError(
            f"route {name!r}: 'group_by' must be a non-empty list of label names, e.g. "
            f'["model", "severity"]. Got {group_by!r}.',
            details=[{"field": f"routes.{name}.group_by", "reason": "not label names"}],
        )
    wait = parse_duration(config.get("group_wait", GROUP_WAIT_S), f"routes.{name}.group_wait")
    interval = parse_duration(
        config.get("group_interval", GROUP_INTERVAL_S), f"routes.{name}.group_interval"
    )
    if interval <= 0:
        raise ValidationFailedError(
            f"route {name!r}: 'group_interval' must be positive. Got {interval!r}.",
            details=[{"field": f"routes.{name}.group_interval", "reason": "not positive"}],
        )
    return {
        "group_by": list(dict.fromkeys(group_by)),
        "group_wait": wait,
        "group_interval": interval,
    }


def check_route(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``{match, notifiers, group_by?, group_wait?, group_interval?}``; return it
    normalised (durations in seconds)."""
    unknown = set(config) - set(_ROUTE_FIELDS)
    if unknown:
        raise ValidationFailedError(
            f"route {name!r}: unknown fields {sorted(unknown)}; "
            f"allowed: {', '.join(_ROUTE_FIELDS)}."
        )
    notifiers = config.get("notifiers")
    if (
        not isinstance(notifiers, list)
        or not notifiers
        or not all(isinstance(n, str) and n for n in notifiers)
    ):
        raise ValidationFailedError(
            f"route {name!r}: 'notifiers' must be a non-empty list of notifier names.",
            details=[{"field": f"routes.{name}.notifiers", "reason": "not a list of names"}],
        )
    return {
        "match": _matchers("route", name, "match", config.get("match"), required=True),
        "notifiers": list(notifiers),
        **_grouping(name, config),
    }


def check_inhibit(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``{source, target, equal?}``; return it normalised."""
    unknown = set(config) - {"source", "target", "equal"}
    if unknown:
        raise ValidationFailedError(
            f"inhibit {name!r}: unknown fields {sorted(unknown)}; allowed: source, target, equal."
        )
    equal = config.get("equal", [])
    if not isinstance(equal, list) or not all(
        isinstance(e, str) and _LABEL.match(e) for e in equal
    ):
        raise ValidationFailedError(
            f"inhibit {name!r}: 'equal' must be a list of label names, e.g. [\"model\"].",
            details=[{"field": f"inhibit.{name}.equal", "reason": "not label names"}],
        )
    return {
        "source": _matchers("inhibit", name, "source", config.get("source"), required=True),
        "target": _matchers("inhibit", name, "target", config.get("target"), required=True),
        "equal": list(equal),
    }


def alert_labels(rule_name: str, severity: str, labels: dict[str, str]) -> dict[str, str]:
    """The labels routes and inhibitions match: the alert's, its rule and severity."""
    return {"alertname": rule_name, "severity": severity, **labels}


def _matches(matchers: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in matchers.items())


def routed_notifiers(routes: list[dict[str, Any]], labels: dict[str, str]) -> list[str]:
    """Notifier names of every route whose matchers the labels satisfy, in route order."""
    out: list[str] = []
    for route in routes:
        if _matches(route["config"]["match"], labels):
            out.extend(n for n in route["config"]["notifiers"] if n not in out)
    return out


def grouping_routes(
    routes: list[dict[str, Any]], labels: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Notifier name → the first matching route that groups it (``{name, config}``);
    those notifiers hear of the alert in its group's message, not on their own."""
    out: dict[str, dict[str, Any]] = {}
    for route in routes:
        config = route["config"]
        if config.get("group_by") and _matches(config["match"], labels):
            for notifier in config["notifiers"]:
                out.setdefault(notifier, route)
    return out


def inhibited_by(
    inhibits: list[dict[str, Any]], labels: dict[str, str], firing: list[dict[str, str]]
) -> str | None:
    """The name of the inhibition that holds back an alert with ``labels`` while the
    alerts with ``firing`` labels fire, or None."""
    for rule in inhibits:
        config = rule["config"]
        if not _matches(config["target"], labels):
            continue
        for source in firing:
            if source == labels or not _matches(config["source"], source):
                continue
            if all(source.get(k) == labels.get(k) for k in config["equal"]):
                return str(rule["name"])
    return None
