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
    if (not isinstance(value, dict) or not value or not all(
            isinstance(k, str) and _LABEL.match(k) and isinstance(v, str)
            for k, v in value.items())):
        raise ValidationFailedError(
            f"{category} {name!r}: '{key}' must be a table of label = \"value\" matchers, "
            f"e.g. {{severity = \"critical\"}}. Got {value!r}.",
            details=[{"field": f"{category}.{name}.{key}", "reason": "not label matchers"}])
    return dict(value)


def check_route(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``{match, notifiers}``; return it normalised."""
    unknown = set(config) - {"match", "notifiers"}
    if unknown:
        raise ValidationFailedError(f"route {name!r}: unknown fields {sorted(unknown)}; "
                                    "allowed: match, notifiers.")
    notifiers = config.get("notifiers")
    if not isinstance(notifiers, list) or not notifiers or not all(
            isinstance(n, str) and n for n in notifiers):
        raise ValidationFailedError(
            f"route {name!r}: 'notifiers' must be a non-empty list of notifier names.",
            details=[{"field": f"routes.{name}.notifiers", "reason": "not a list of names"}])
    return {"match": _matchers("route", name, "match", config.get("match"), required=True),
            "notifiers": list(notifiers)}


def check_inhibit(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``{source, target, equal?}``; return it normalised."""
    unknown = set(config) - {"source", "target", "equal"}
    if unknown:
        raise ValidationFailedError(f"inhibit {name!r}: unknown fields {sorted(unknown)}; "
                                    "allowed: source, target, equal.")
    equal = config.get("equal", [])
    if not isinstance(equal, list) or not all(isinstance(e, str) and _LABEL.match(e)
                                              for e in equal):
        raise ValidationFailedError(
            f"inhibit {name!r}: 'equal' must be a list of label names, e.g. [\"model\"].",
            details=[{"field": f"inhibit.{name}.equal", "reason": "not label names"}])
    return {"source": _matchers("inhibit", name, "source", config.get("source"),
                                required=True),
            "target": _matchers("inhibit", name, "target", config.get("target"),
                                required=True),
            "equal": list(equal)}


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


def inhibited_by(inhibits: list[dict[str, Any]], labels: dict[str, str],
                 firing: list[dict[str, str]]) -> str | None:
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
