"""Notifier settings, declared: one pydantic model per notifier type.

vigil.toml's ``[notifiers.NAME]`` tables, ``PUT /api/v1/notifiers/NAME`` bodies and
``vigil rules apply`` all validate against these models, so a bad value gets the same
one-line error everywhere, naming the setting and the reason
(:func:`validation_error` turns pydantic's errors into vigil's). Any string setting may be
``"env:NAME"``: it is read from the environment when the notifier is built for sending,
and accepted unchecked when a configuration is only validated (the variable may be set
where the server runs, not where the file is applied).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from vigil.errors import ValidationFailedError

ENV_PREFIX = "env:"


def is_env_ref(value: Any) -> bool:
    """Whether ``value`` is an ``"env:NAME"`` reference to an environment variable."""
    return isinstance(value, str) and value.startswith(ENV_PREFIX)


def _url(value: str) -> str:
    if not is_env_ref(value) and not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    if not is_env_ref(value) and not value.split("://", 1)[1].split("/", 1)[0]:
        raise ValueError("must name a host")
    return value


def _address(value: str) -> str:
    if not is_env_ref(value) and "@" not in value:
        raise ValueError("must be an email address")
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) and not is_env_ref(value) else value


Text = Annotated[str, Field(min_length=1)]
Url = Annotated[str, AfterValidator(_url)]
Address = Annotated[str, AfterValidator(_address)]


class ReceiverSettings(BaseModel):
    """What every notifier (and action) settings model shares: unknown keys and values of
    the wrong type are refused, not coerced (``"3"`` is not a number of retries)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    kind: ClassVar[str] = "notifier"  # the word used in messages
    # the reason given when a setting's value has the wrong type (else pydantic's message)
    reasons: ClassVar[Mapping[str, str]] = {}


class NotifierSettings(ReceiverSettings):
    """Retries and timeouts every notifier takes."""

    retries: Annotated[int, Field(ge=0)] = 3
    backoff_s: Annotated[float, Field(ge=0)] = 1.0
    timeout_s: Annotated[float, Field(gt=0)] = 10.0

    reasons: ClassVar[Mapping[str, str]] = {
        "retries": "must be a non-negative integer",
        "backoff_s": "must be a non-negative number of seconds",
        "timeout_s": "must be a positive number of seconds",
        "url": "must be an http:// or https:// URL",
        "secret": "must be a string",
        "headers": "must be a table of string values",
        "channel": "must be a channel name such as '#ml'",
        "source": "must be a non-empty string",
        "routing_key": "must be a non-empty string",
        "host": "must be a host name",
        "from": "must be an email address",
        "to": "must be an email address or a list of them",
        "port": "must be a port number (1-65535)",
        "starttls": "must be true or false",
        "ssl": "must be true or false",
        "send_resolved": "must be true or false",
        "dsn": "must be a non-empty string",
    }


class WebhookSettings(NotifierSettings):
    """``[notifiers.NAME] type = "webhook"``: Alertmanager v4 JSON POSTed to ``url``."""

    url: Url
    secret: Text | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    external_url: str = ""


class SlackSettings(NotifierSettings):
    """``type = "slack"``: a Slack incoming webhook."""

    url: Url
    channel: Text | None = None


class PagerDutySettings(NotifierSettings):
    """``type = "pagerduty"``: Events API v2 (``url`` defaults to PagerDuty's endpoint)."""

    routing_key: Text
    url: Url | None = None
    source: Text = "vigil"


class EmailSettings(NotifierSettings):
    """``type = "email"``: SMTP, optionally STARTTLS or implicit TLS, optionally a login."""

    host: Text
    from_: Annotated[Address, Field(alias="from")]
    to: Annotated[list[Address], BeforeValidator(_one_or_many), Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    starttls: bool = False
    ssl: bool = False
    ca_file: Text | None = None
    username: Text | None = None
    password: str | None = None

    @model_validator(mode="after")
    def _one_tls(self) -> EmailSettings:
        if self.starttls and self.ssl:
            raise ValueError("'starttls' and 'ssl' exclude each other: pick one")
        return self


class SentrySettings(NotifierSettings):
    """``type = "sentry"``: events through sentry-sdk (extra ``sentry``)."""

    dsn: Text
    environment: Text | None = None
    send_resolved: bool = True


LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class LogSettings(NotifierSettings):
    """``type = "log"``: lines on logger ``vigil.alerts`` (``level`` overrides the default
    WARNING for firing, INFO for resolved)."""

    level: Annotated[LogLevel | None, BeforeValidator(_lower)] = None

    reasons: ClassVar[Mapping[str, str]] = {
        **NotifierSettings.reasons,
        "level": "must be one of debug, info, warning, error, critical",
    }


S = TypeVar("S", bound=ReceiverSettings)

NOTIFIER_SETTINGS: dict[str, type[NotifierSettings]] = {
    "webhook": WebhookSettings,
    "slack": SlackSettings,
    "pagerduty": PagerDutySettings,
    "email": EmailSettings,
    "sentry": SentrySettings,
    "log": LogSettings,
}


def expand_env(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with its ``"env:NAME"`` values read from the environment (an unset
    variable is an error naming the setting)."""
    out = {}
    for key, value in config.items():
        if is_env_ref(value):
            var = value[len(ENV_PREFIX) :]
            if var not in os.environ:
                raise ValidationFailedError(
                    f"Notifier setting {key!r} names the environment variable {var}, "
                    "which is not set.",
                    details=[{"field": key, "reason": f"{var} is not set"}],
                )
            value = os.environ[var]
        out[key] = value
    return out


def settings_of(model: type[S], type_: str, config: Any, *, resolve_env: bool = True) -> S:
    """``config`` validated against ``model`` (``env:`` values read first when
    ``resolve_env``); raises :class:`ValidationFailedError` naming the setting."""
    if not isinstance(config, dict):
        raise ValidationFailedError(
            f"The {type_} {model.kind} configuration must be a table. Got {config!r}."
        )
    data = expand_env(config) if resolve_env else config
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, model, type_, data) from None


def notifier_settings(type_: str, config: Any, *, resolve_env: bool = True) -> NotifierSettings:
    """The validated settings of a notifier of ``type_`` (a known type)."""
    return settings_of(NOTIFIER_SETTINGS[type_], type_, config, resolve_env=resolve_env)


def _allowed(model: type[ReceiverSettings]) -> list[str]:
    return sorted(f.alias or n for n, f in model.model_fields.items())


def validation_error(
    exc: ValidationError, model: type[ReceiverSettings], type_: str, data: Mapping[str, Any]
) -> ValidationFailedError:
    """The first problem of ``exc`` as one line naming the setting and the reason.

    An unknown setting is reported first (it is most likely a typo of one that looks
    missing); every missing one is named together.
    """
    errors = exc.errors()
    what = f"{type_} {model.kind}"
    unknown = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and e["loc"]]
    if unknown:
        return ValidationFailedError(
            f"Unknown {what} setting {unknown[0]!r}; allowed: {', '.join(_allowed(model))}.",
            details=[{"field": u, "reason": "unknown"} for u in unknown],
        )
    missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing" and e["loc"]]
    if missing:
        return ValidationFailedError(
            f"The {what} needs {', '.join(repr(m) for m in missing)}.",
            details=[{"field": m, "reason": "required"} for m in missing],
        )
    err = errors[0]
    cause = (err.get("ctx") or {}).get("error")
    name = str(err["loc"][0]) if err["loc"] else ""
    if isinstance(cause, ValidationFailedError):  # a shared parser's words (durations)
        reason = model.reasons.get(name, cause.message)
    elif err["type"] == "value_error":  # raised by one of the validators above: its words
        reason = str(cause) if cause is not None else err["msg"].removeprefix("Value error, ")
    else:
        reason = model.reasons.get(name, err["msg"][:1].lower() + err["msg"][1:])
    if not name:  # a check across settings
        return ValidationFailedError(
            f"The {what}: {reason}.",
            details=[{"field": _first_quoted(reason) or "config", "reason": reason}],
        )
    got = data.get(name, err.get("input"))
    return ValidationFailedError(
        f"The {what} setting {name!r} {reason}. Got {got!r}.",
        details=[{"field": name, "reason": reason}],
    )


def _first_quoted(text: str) -> str | None:
    parts = text.split("'")
    return parts[1] if len(parts) > 2 else None
