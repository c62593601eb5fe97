"""The catalog side of the registry: edit a version's notes and tags, deprecate or archive
it, and search versions by tag and offline metric.

Versions are immutable in what was signed (the artifact); what people write about them
(notes, tags) and their lifecycle status may change, and each change is kept in the
version's history with who made it and why.

- ``deprecated``: still loadable and promotable, but loading it warns
  (:class:`DeprecatedVersionWarning`).
- ``archived``: kept for the record; no alias may point at it or run it as a canary, and
  lists hide it unless asked. A version an alias serves cannot be archived.

Examples:
    >>> parse_metric_filter("accuracy>=0.9")
    ('accuracy', '>=', 0.9)
    >>> parse_tag_filter("team=ml"), parse_tag_filter("reviewed")
    (('team', 'ml'), ('reviewed', None))
"""

from __future__ import annotations

import logging
import operator
import re
import warnings
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from vigil.errors import InvalidParameterError
from vigil.registry.errors import VersionArchivedError
from vigil.store.registry import queries as q

if TYPE_CHECKING:
    from vigil.registry.registry import Registry

log = logging.getLogger("vigil.registry")

STATUSES = ("active", "deprecated", "archived")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
}
_METRIC = re.compile(
    r"^\s*(?P<name>[^<>=!\s]+)\s*(?P<op>>=|<=|==|!=|>|<|=)\s*"
    r"(?P<value>\S+)\s*$"
)
_TAG_KEY = re.compile(r"^[^=\s][^=]{0,99}$")


class DeprecatedVersionWarning(UserWarning):
    """A deprecated (or archived) version was loaded."""


def parse_tag_filter(text: str) -> tuple[str, str | None]:
    """``"key=value"`` (that value) or ``"key"`` (any value) → ``(key, value or None)``."""
    key, sep, value = text.partition("=")
    if not _TAG_KEY.match(key) or (sep and not value):
        raise InvalidParameterError(f"A tag filter is KEY=VALUE or KEY (any value). Got {text!r}.")
    return key, (value if sep else None)


def parse_metric_filter(text: str) -> tuple[str, str, float]:
    """``"accuracy>=0.9"`` → ``("accuracy", ">=", 0.9)``; operators ``>= <= > < == !=``."""
    match = _METRIC.match(text) if isinstance(text, str) else None
    value = None
    if match is not None:
        try:
            value = float(match["value"])
        except ValueError:
            value = None
    if match is None or value is None:
        raise InvalidParameterError(
            "A metric filter is NAME OP NUMBER with OP one of >=, <=, >, <, ==, != "
            f"(e.g. accuracy>=0.9). Got {text!r}."
        )
    return match["name"], match["op"], value


def _check_tags(tags: dict[str, Any]) -> dict[str, str]:
    for key, value in tags.items():
        if not isinstance(key, str) or not _TAG_KEY.match(key) or not isinstance(value, str):
            raise InvalidParameterError(
                "Tags are KEY=VALUE strings (key without '=', at most 100 characters). "
                f"Got {key!r}={value!r}."
            )
    return dict(tags)


def edit(
    reg: Registry,
    model: str,
    version: str,
    *,
    notes: str | None = None,
    tags: dict[str, str] | None = None,
    untag: Iterable[str] = (),
    reason: str | None = None,
    actor: str,
) -> dict[str, Any]:
    """Change notes and tags of a version; the change goes to its history and the audit
    log. ``tags`` are set (added or replaced), ``untag`` names tags to remove."""
    row = reg.get(model, version)
    tags = _check_tags(tags or {})
    untag = list(dict.fromkeys(untag))
    if notes is None and not tags and not untag:
        raise InvalidParameterError(
            "Nothing to change: give notes, tags to set or tags to "
            "remove (--note, --tag KEY=VALUE, --untag KEY)."
        )
    both = sorted(set(tags) & set(untag))
    if both:
        raise InvalidParameterError(f"Tag {both[0]!r} is both set and removed; do one.")
    current: dict[str, str] = dict(row["tags"] or {})
    missing = [k for k in untag if k not in current]
    if missing:
        raise InvalidParameterError(
            f"Version {version!r} of {model!r} has no tag {missing[0]!r}; its tags: "
            f"{', '.join(sorted(current)) or 'none'}."
        )
    changes: dict[str, Any] = {}
    values: dict[str, Any] = {}
    if notes is not None and notes != row["notes"]:
        changes["notes"] = {"from": row["notes"], "to": notes}
        values["notes"] = notes
    new_tags = {**current, **tags}
    for key in untag:
        new_tags.pop(key)
    if new_tags != current:
        changes["tags"] = {
            "set": {
                k: {"from": current.get(k), "to": v}
                for k, v in sorted(tags.items())
                if current.get(k) != v
            },
            "removed": {k: current[k] for k in untag},
        }
        values["tags"] = new_tags or None
    if not changes:
        return _with_history(reg, model, row)  # nothing differs: no history entry
    record = reg.model(model)
    updated = q.update_version(
        reg.store,
        record.id,
        version,
        values,
        action="edit",
        changes=changes,
        actor=actor,
        reason=reason,
    )
    reg.store.audit(actor, "registry.edit", f"{model}:{version}", changes)
    return _with_history(reg, model, {"model": model, **updated})


def set_status(
    reg: Registry, model: str, version: str, status: str, *, reason: str | None = None, actor: str
) -> dict[str, Any]:
    """Deprecate, archive or restore (``"active"``) a version.

    Raises:
        VersionArchivedError: archiving a version an alias serves (or runs as canary).
    """
    if status not in STATUSES:
        raise InvalidParameterError(
            f"A version's status is one of {', '.join(STATUSES)}. Got {status!r}."
        )
    row = reg.get(model, version)
    record = reg.model(model)
    if status == "archived":
        serving = q.serving_aliases(reg.store, record.id, version)
        if serving:
            raise VersionArchivedError(
                f"Version {version!r} of {model!r} is served by alias(es) "
                f"{', '.join(serving)}; promote another version there (or end the canary) "
                "before archiving it.",
                details={"aliases": serving},
            )
    if row["status"] == status:
        return _with_history(reg, model, row)
    action = {"active": "restore", "deprecated": "deprecate", "archived": "archive"}[status]
    changes = {"status": {"from": row["status"], "to": status}}
    updated = q.update_version(
        reg.store,
        record.id,
        version,
        {"status": status},
        action=action,
        changes=changes,
        actor=actor,
        reason=reason,
    )
    reg.store.audit(
        actor, f"registry.{action}", f"{model}:{version}", {**changes, "reason": reason}
    )
    return _with_history(reg, model, {"model": model, **updated})


def _with_history(reg: Registry, model: str, row: dict[str, Any]) -> dict[str, Any]:
    from vigil.registry.registry import _public

    out = _public(row)
    out["model"] = model
    out["history"] = q.version_history(reg.store, reg.model(model).id, row["version"])
    return out


def search(
    reg: Registry,
    *,
    model: str | None = None,
    tags: Iterable[str] = (),
    metrics: Iterable[str] = (),
    include_archived: bool = False,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Versions (of one model, or of all) whose tags and offline metrics match every filter.

    Args:
        model: only this model's versions.
        tags: ``"key=value"`` or ``"key"`` filters.
        metrics: ``"name>=number"`` filters on the metrics recorded at register; a version
            without that metric does not match.
        include_archived: archived versions are left out unless this is set (or
            ``status="archived"``).
        status: only versions in this status.
    """
    tag_filters = [parse_tag_filter(t) for t in tags]
    metric_filters = [parse_metric_filter(m) for m in metrics]
    if status is not None and status not in STATUSES:
        raise InvalidParameterError(
            f"A version's status is one of {', '.join(STATUSES)}. Got {status!r}."
        )
    from vigil.registry.registry import _public

    model_id = reg.model(model).id if model is not None else None
    out = []
    for row in q.list_versions(reg.store, model_id):
        if status is not None and row["status"] != status:
            continue
        if status is None and row["status"] == "archived" and not include_archived:
            continue
        row_tags = row["tags"] or {}
        if not all(k in row_tags and (v is None or row_tags[k] == v) for k, v in tag_filters):
            continue
        row_metrics = row["metrics"] or {}
        if not all(
            isinstance(row_metrics.get(n), int | float) and _OPS[op](float(row_metrics[n]), value)
            for n, op, value in metric_filters
        ):
            continue
        out.append(_public(row))
    return out


def warn_if_retired(row: dict[str, Any]) -> None:
    """Warn (and log) when a deprecated or archived version is loaded."""
    status = row.get("status") or "active"
    if status == "active":
        return
    message = (
        f"Version {row['version']!r} of {row['model']!r} is {status}; choose a current version."
    )
    log.warning("%s", message)
    warnings.warn(message, DeprecatedVersionWarning, stacklevel=3)
