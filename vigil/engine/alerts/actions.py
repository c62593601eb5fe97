"""Maintenance actions a firing alert can trigger: ``retrain`` and ``rollback``.

- ``retrain`` exports the recent window of the model's predictions with their inputs,
  outputs, labels and feedback as Parquet (the layout of `vigil export dataset`; only
  labelled rows with ``labelled_only``), under a name no other export shares, then calls a
  ``webhook`` (POST JSON with the path, an expiring download ``url``, row counts and the
  reason, HMAC-signed when ``secret`` is set) or runs a ``command`` (arguments may
  contain ``{path}``, ``{reason}``, ``{model}``; the same values are in ``VIGIL_RETRAIN_PATH``,
  ``VIGIL_RETRAIN_REASON`` and ``VIGIL_MODEL``).
- ``rollback`` moves an alias (the action's ``alias``, else the rule's, else
  ``production``) back to the version promoted before it, through a
  :class:`RegistryClient` (vigil's registry satisfies it).

The dispatcher writes each run to the audit log with the alert that caused it.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, ClassVar, Protocol

import orjson
from pydantic import BeforeValidator, Field, model_validator

from vigil.engine.durations import parse_duration
from vigil.engine.exports import links as export_links
from vigil.engine.exports.links import exports_dir
from vigil.errors import ValidationFailedError, VigilError
from vigil.notify.base import Notification
from vigil.notify.config import ReceiverSettings, Text, Url, settings_of
from vigil.store import Store


def _duration(field_name: str) -> BeforeValidator:
    """A duration setting: ``"7d"`` or seconds in, seconds out."""
    return BeforeValidator(lambda v: parse_duration(v, field_name))


class ActionSettings(ReceiverSettings):
    """What every action's settings share."""

    kind: ClassVar[str] = "action"


class RetrainSettings(ActionSettings):
    """``[actions.NAME] type = "retrain"``: export ``window`` of predictions, then call
    ``webhook`` or run ``command`` (exactly one)."""

    window: Annotated[float, _duration("window"), Field(gt=0)] = 7 * 86400.0
    webhook: Url | None = None
    secret: Text | None = None
    command: Annotated[list[str], Field(min_length=1)] | None = None
    dir: Text | None = None
    timeout_s: Annotated[float, Field(gt=0)] = 600.0
    labelled_only: bool = False
    link_ttl: Annotated[float, _duration("link_ttl"), Field(gt=0)] = 86400.0

    reasons: ClassVar[dict[str, str]] = {
        "window": "must be a positive duration like '7d'",
        "link_ttl": "must be a positive duration like '24h'",
        "webhook": "must be an http:// or https:// URL",
        "secret": "must be a non-empty string",
        "command": 'must be a list of strings, like ["python", "train.py", "{path}"]',
        "dir": "must be a folder path",
        "timeout_s": "must be a positive number of seconds",
        "labelled_only": "must be true or false",
    }

    @model_validator(mode="after")
    def _webhook_or_command(self) -> RetrainSettings:
        if (self.webhook is None) == (self.command is None):
            raise ValueError("needs exactly one of 'webhook' or 'command'")
        return self


class RollbackSettings(ActionSettings):
    """``type = "rollback"``: move ``alias`` (else the rule's, else production) back, or
    to version ``to``."""

    alias: Text | None = None
    to: Text | int | None = None

    reasons: ClassVar[dict[str, str]] = {
        "alias": "must be a registry alias such as 'production'",
        "to": "must be a version (a string or an integer)",
    }


ACTION_SETTINGS: dict[str, type[ActionSettings]] = {
    "retrain": RetrainSettings,
    "rollback": RollbackSettings,
}
ACTION_TYPES = tuple(ACTION_SETTINGS)


def action_settings(name: str, type_: str, config: Any) -> ActionSettings:
    """The validated settings of action ``name`` of ``type_``; raises
    :class:`ValidationFailedError` naming the setting and the reason."""
    model = ACTION_SETTINGS.get(type_)
    if model is None:
        raise ValidationFailedError(
            f"Action {name!r} has unknown type {type_!r}; use one of {', '.join(ACTION_TYPES)}.",
            details=[{"field": "type", "reason": "unknown"}],
        )
    return settings_of(model, type_, config, resolve_env=False)


class ActionError(VigilError):
    """An action ran and failed (webhook refused, command exited non-zero, ...)."""

    code = "action_failed"


class RegistryClient(Protocol):
    """What the rollback action needs of a model registry."""

    def rollback(
        self,
        model: str,
        alias: str,
        to: str | int | None = None,
        *,
        reason: str | None = None,
        actor: str | None = None,
        automatic: bool = False,
    ) -> dict[str, Any]: ...


class Action(Protocol):
    """Runs for a firing alert; returns a JSON-able result or raises :class:`VigilError`."""

    name: str
    type: str

    def run(self, notification: Notification) -> dict[str, Any]: ...


def build_action(
    name: str,
    type_: str,
    config: dict[str, Any],
    *,
    store: Store,
    home: Path,
    registry: RegistryClient | None = None,
    base_url: str | None = None,
) -> Action:
    """An action of ``type_`` from its configuration (validated; nothing runs).

    ``base_url`` is the server's URL as others reach it, for download links.
    """
    action_settings(name, type_, config)
    if type_ == "retrain":
        return RetrainAction(name, config, store=store, home=home, base_url=base_url)
    return RollbackAction(name, config, registry=registry)


def _reason(n: Notification) -> str:
    return f"alert {n.alert_id} {n.rule}: {n.summary}"


class RetrainAction:
    """Export the recent window as Parquet, then call a webhook or a command."""

    type = "retrain"

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        *,
        store: Store,
        home: Path,
        base_url: str | None = None,
    ) -> None:
        settings = settings_of(RetrainSettings, "retrain", config, resolve_env=False)
        self.name = name
        self.store = store
        self.window_s = settings.window
        self.webhook = settings.webhook
        self.secret = settings.secret
        self.command = settings.command
        self.home = home
        self.dir = Path(settings.dir or exports_dir(home))
        self.timeout_s = settings.timeout_s
        self.labelled_only = settings.labelled_only
        self.link_ttl_s = settings.link_ttl
        self.base_url = base_url

    def export(
        self, model_name: str, end: float, version: str | None = None
    ) -> tuple[Path, int, int]:
        """Write the window ending at ``end`` as Parquet under a name no other export
        shares; return the path, the row count and how many rows are labelled."""
        from vigil.engine.exports.datasets import labelled_count, training_table, write_parquet

        model = self.store.get_model(model_name)
        if model is None:
            raise ActionError(f"Retrain {self.name!r}: model {model_name!r} is not registered.")
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(end))
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", model_name)
        path = self.dir / f"{safe}-{stamp}-{uuid.uuid4().hex[:12]}.parquet"
        table = training_table(
            self.store, model, end - self.window_s, end, version, labelled_only=self.labelled_only
        )
        write_parquet(table, path)
        return path, len(table), labelled_count(table)

    def run(self, notification: Notification) -> dict[str, Any]:
        model = notification.labels.get("model", "")
        path, rows, labelled = self.export(model, time.time(), notification.labels.get("version"))
        reason = _reason(notification)
        result: dict[str, Any] = {"path": str(path), "rows": rows, "labelled_rows": labelled}
        if self.webhook:
            from vigil.notify.http import post
            from vigil.notify.webhook import SIGNATURE_HEADER, sign

            payload: dict[str, Any] = {
                "action": "retrain",
                "model": model,
                "path": str(path),
                "rows": rows,
                "labelled_rows": labelled,
                "reason": reason,
                "alert": notification.to_dict(),
            }
            if self.base_url and path.parent == exports_dir(self.home):
                payload["url"], payload["expires_at"] = export_links.sign(
                    self.home, self.base_url, path.name, self.link_ttl_s
                )
            body = orjson.dumps(payload)
            headers = {"Content-Type": "application/json"}
            if self.secret:
                headers[SIGNATURE_HEADER] = sign(body, self.secret)
            try:
                response = post(self.webhook, body, headers, 30.0, f"retrain {self.name}")
            except VigilError as exc:
                raise ActionError(exc.message) from None
            result["status"] = response.status_code
            return result
        values = {"{path}": str(path), "{reason}": reason, "{model}": model}
        argv = [_fill(arg, values) for arg in self.command or []]
        env = {
            **os.environ,
            "VIGIL_RETRAIN_PATH": str(path),
            "VIGIL_RETRAIN_REASON": reason,
            "VIGIL_MODEL": model,
        }
        try:
            done = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=self.timeout_s, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ActionError(f"retrain {self.name}: {type(exc).__name__}: {exc}") from None
        if done.returncode != 0:
            raise ActionError(
                f"retrain {self.name}: command exited {done.returncode}: "
                f"{done.stderr.strip()[-300:]}"
            )
        result["returncode"] = 0
        result["stdout"] = done.stdout.strip()[-300:]
        return result


def _fill(arg: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        arg = arg.replace(key, value)
    return arg


class RollbackAction:
    """Return ``alias`` of the alert's model to the version promoted before it."""

    type = "rollback"

    def __init__(
        self, name: str, config: dict[str, Any], *, registry: RegistryClient | None
    ) -> None:
        settings = settings_of(RollbackSettings, "rollback", config, resolve_env=False)
        self.name = name
        self.alias = settings.alias or "production"
        self.alias_given = settings.alias is not None  # else the rule's alias, else production
        self.to = settings.to
        self.registry = registry

    def run(self, notification: Notification) -> dict[str, Any]:
        if self.registry is None:
            raise ActionError(f"rollback {self.name}: no model registry is available.")
        model = notification.labels.get("model", "")
        alias = self.alias if self.alias_given else notification.labels.get("alias", self.alias)
        return dict(
            self.registry.rollback(
                model,
                alias,
                self.to,
                reason=_reason(notification),
                actor="vigil-engine",
                automatic=True,
            )
        )
