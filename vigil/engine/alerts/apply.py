"""Config as code: apply the ``[[rules]]``, ``[notifiers.*]``, ``[actions.*]``,
``[routes.*]`` and ``[inhibit.*]`` of a TOML file to the store, idempotently, and say what
changed (routes and inhibitions: :mod:`vigil.engine.alerts.routing`).

Other tables of the file (``[settings]``, policies of other concerns) are left alone.
Objects in the store but not in the file are kept unless ``prune`` is set.

Examples:
    >>> doc = parse_config('[[rules]]\\nname = "slow"\\nmetric = "latency_p95"\\nthreshold = 1')
    >>> [r["name"] for r in doc["rules"]]
    ['slow']
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

from vigil.engine.alerts.actions import action_settings
from vigil.engine.alerts.routing import check_inhibit, check_route
from vigil.engine.alerts.rules import Rule
from vigil.errors import ValidationFailedError
from vigil.notify.base import build_notifier, mask
from vigil.store import Store
from vigil.store.alerts.queries import AlertStore

CATEGORIES = ("notifier", "action", "route", "inhibit")


@dataclass
class Change:
    """One line of the diff: ``+`` created, ``~`` updated, ``-`` deleted, ``=`` unchanged,
    ``?`` only in the store (kept)."""

    op: str
    kind: str
    name: str
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def __str__(self) -> str:
        text = f"{self.op} {self.kind} {self.name}"
        if self.fields:
            text += ": " + ", ".join(
                f"{k} {a!r} -> {b!r}"
                for k, a, b in ((k, *v) for k, v in sorted(self.fields.items()))
            )
        if self.op == "?":
            text += " (not in the file; kept, use --prune to delete)"
        return text


def parse_config(text: str, source: str = "the file") -> dict[str, Any]:
    """The rules, notifiers and actions of a TOML document, validated."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationFailedError(f"{source} is not valid TOML: {exc}") from None
    rules = data.get("rules", [])
    if not isinstance(rules, list):
        raise ValidationFailedError(f"'rules' in {source} must be an array of tables ([[rules]]).")
    out: dict[str, Any] = {"rules": [], "notifier": {}, "action": {}, "route": {}, "inhibit": {}}
    for category, key in (
        ("notifier", "notifiers"),
        ("action", "actions"),
        ("route", "routes"),
        ("inhibit", "inhibit"),
    ):
        table = data.get(key, {})
        if not isinstance(table, dict):
            raise ValidationFailedError(f"'{key}' in {source} must be a table of tables.")
        for name, spec in table.items():
            out[category][name] = check_receiver(category, name, spec)
    names: set[str] = set()
    for i, spec in enumerate(rules):
        try:
            rule = Rule.from_dict(spec)
        except ValidationFailedError as exc:
            raise ValidationFailedError(f"rules[{i}]: {exc.message}", details=exc.details) from None
        if rule.name in names:
            raise ValidationFailedError(f"rules[{i}]: the name {rule.name!r} is used twice.")
        names.add(rule.name)
        out["rules"].append(rule.to_dict())
    return out


def check_receiver(category: str, name: str, spec: Any) -> dict[str, Any]:
    """Validate a notifier or action table ``{type = ..., ...}`` (a route or inhibition
    table has no type); return ``{type, config}``."""
    if category in ("route", "inhibit"):
        if not isinstance(spec, dict):
            raise ValidationFailedError(f"{category} {name!r} must be a table.")
        check = check_route if category == "route" else check_inhibit
        return {"type": category, "config": check(name, spec)}
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ValidationFailedError(
            f"{category} {name!r} must be a table with a 'type'.",
            details=[{"field": f"{category}s.{name}.type", "reason": "required"}],
        )
    config = {k: v for k, v in spec.items() if k != "type"}
    try:
        if category == "notifier":  # env: values are read when sending
            build_notifier(name, spec["type"], config, resolve_env=False)
        else:
            action_settings(name, spec["type"], config)
    except ValidationFailedError as exc:
        raise ValidationFailedError(
            f"{category} {name!r}: {exc.message}", details=exc.details
        ) from None
    return {"type": spec["type"], "config": config}


def check_rule_targets(store: Store, rule: Rule, extra: dict[str, set[str]] | None = None) -> None:
    """Raise when the rule names a notifier or action that is not configured."""
    alerts = AlertStore(store)
    for category, names in (("notifier", rule.notifiers), ("action", rule.actions)):
        known = {r["name"] for r in alerts.list_receivers(category)} | (extra or {}).get(
            category, set()
        )
        missing = [n for n in names if n not in known]
        if missing:
            raise ValidationFailedError(
                f"Rule {rule.name!r} names the {category} {missing[0]!r}, which is not "
                f"configured. Known: {', '.join(sorted(known)) or 'none'}.",
                details=[{"field": f"{category}s", "reason": f"unknown {missing[0]!r}"}],
            )


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
    }


def plan(store: Store, config: dict[str, Any], *, prune: bool = False) -> list[Change]:
    """What applying ``config`` would change (secrets masked)."""
    alerts = AlertStore(store)
    changes: list[Change] = []
    for category in CATEGORIES:
        stored = {r["name"]: r for r in alerts.list_receivers(category)}
        for name, spec in sorted(config.get(category, {}).items()):
            old = stored.pop(name, None)
            new = {"type": spec["type"], **mask(spec["config"])}
            if old is None:
                changes.append(Change("+", category, name))
            else:
                fields = _diff({"type": old["type"], **mask(old["config"])}, new)
                if old["type"] != spec["type"] or old["config"] != spec["config"]:
                    changes.append(
                        Change("~", category, name, fields or {"secret": ("***", "***")})
                    )
                else:
                    changes.append(Change("=", category, name))
        changes += [Change("-" if prune else "?", category, name) for name in sorted(stored)]
    stored_rules = {r["name"]: r for r in alerts.list_rules()}
    for spec in config["rules"]:
        old = stored_rules.pop(spec["name"], None)
        if old is None:
            changes.append(Change("+", "rule", spec["name"]))
        elif old != spec:
            changes.append(Change("~", "rule", spec["name"], _diff(old, spec)))
        else:
            changes.append(Change("=", "rule", spec["name"]))
    changes += [Change("-" if prune else "?", "rule", name) for name in sorted(stored_rules)]
    return changes


def apply(
    store: Store, config: dict[str, Any], *, prune: bool = False, actor: str = "cli"
) -> list[Change]:
    """Make the store match ``config``; return the changes (audit-logged)."""
    extra = {c: set(config[c]) for c in ("notifier", "action")}
    for spec in config["rules"]:
        check_rule_targets(
            store, Rule.from_dict({k: v for k, v in spec.items() if v is not None}), extra
        )
    known = {r["name"] for r in AlertStore(store).list_receivers("notifier")} | extra["notifier"]
    for name, spec in config.get("route", {}).items():
        missing = [n for n in spec["config"]["notifiers"] if n not in known]
        if missing:
            raise ValidationFailedError(
                f"route {name!r} names the notifier {missing[0]!r}, which is not configured.",
                details=[{"field": f"routes.{name}.notifiers", "reason": "unknown notifier"}],
            )
    changes = plan(store, config, prune=prune)
    alerts = AlertStore(store)
    for category in CATEGORIES:
        for name, spec in config.get(category, {}).items():
            alerts.put_receiver(category, name, spec["type"], spec["config"])
    for spec in config["rules"]:
        alerts.put_rule(spec)
    for change in changes:
        if change.op == "-":
            if change.kind == "rule":
                alerts.delete_rule(change.name)
            else:
                alerts.delete_receiver(change.kind, change.name)
    done = [c for c in changes if c.op in "+~-"]
    if done:
        store.audit(actor, "rules.apply", None, {"changes": [str(c) for c in done]})
    return changes
