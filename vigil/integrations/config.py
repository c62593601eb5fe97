"""Integration settings: argument > ``VIGIL_*`` environment > vigil.toml > default.

Every integration is off until its key setting is given (a namespace, a URL or a DSN).
In vigil.toml they live under ``[integrations.<name>]`` and the table's keys are the
names below without the ``<name>_`` prefix::

    [integrations.cloudwatch]
    namespace = "vigil"          # same as VIGIL_CLOUDWATCH_NAMESPACE=vigil
    region = "eu-west-1"

    [integrations.loki]
    url = "http://loki:3100"

Nothing is read at import time: call :func:`load_integration_settings`.

Examples:
    >>> s = IntegrationSettings(cloudwatch_namespace="ml", loki_url="http://loki:3100")
    >>> s.enabled()
    ['cloudwatch', 'loki']
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from vigil.errors import ConfigurationError

#: integration name -> the setting that switches it on.
SWITCHES: dict[str, str] = {
    "cloudwatch": "cloudwatch_namespace",
    "emf": "emf_namespace",
    "ecs": "ecs_log_path",
    "elasticsearch": "elasticsearch_url",
    "loki": "loki_url",
    "sentry": "sentry_dsn",
    "otlp": "otlp_endpoint",
}


class IntegrationSettings(BaseSettings):
    """Settings of vigil's integrations, each off until configured."""

    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="ignore", frozen=True)

    # Amazon CloudWatch (server side, PutMetricData; extra ``aws``).
    cloudwatch_namespace: str | None = Field(
        None, description="CloudWatch namespace to publish window metrics to (enables it)."
    )
    cloudwatch_region: str | None = Field(
        None, description="AWS region; default boto3's (AWS_REGION, ~/.aws/config)."
    )
    cloudwatch_endpoint_url: str | None = Field(
        None, description="Custom CloudWatch endpoint (LocalStack, moto, VPC endpoint)."
    )
    cloudwatch_dimensions: dict[str, str] = Field(
        default_factory=dict, description="Static dimensions added to every metric (JSON)."
    )
    cloudwatch_interval_s: float = Field(
        60.0, gt=0, description="Seconds between publications of finished minutes."
    )
    # CloudWatch Embedded Metric Format (SDK side, log lines, no API calls).
    emf_namespace: str | None = Field(
        None, description="Namespace of EMF log lines written by the SDK (enables them)."
    )
    emf_path: str | None = Field(
        None, description="File EMF lines are appended to; default standard output."
    )
    # Elastic Common Schema logs (SDK side).
    ecs_log_path: str | None = Field(
        None, description="File (or '-' for stdout) for ECS JSON prediction logs (enables)."
    )
    ecs_service_name: str = Field(
        "vigil", description="service.name of ECS documents, Loki and OTLP resources."
    )
    ecs_server_logs: bool = Field(False, description="Format the server's logs as ECS JSON.")
    # Elasticsearch _bulk sink (SDK side).
    elasticsearch_url: str | None = Field(
        None, description="Elasticsearch base URL for the _bulk sink (enables it)."
    )
    elasticsearch_index: str = Field(
        "vigil-predictions", description="Index or data stream the documents go to."
    )
    elasticsearch_api_key: str | None = Field(
        None, description="Elasticsearch API key (sent as 'Authorization: ApiKey ...')."
    )
    # Grafana Loki push (SDK side).
    loki_url: str | None = Field(None, description="Loki base URL (enables the push sink).")
    loki_tenant: str | None = Field(None, description="X-Scope-OrgID for multi-tenant Loki.")
    # Sentry (SDK side; extra ``sentry``).
    sentry_dsn: str | None = Field(
        None, description="Sentry DSN for exceptions raised in tracked predictions."
    )
    sentry_environment: str | None = Field(None, description="Sentry environment tag.")
    sentry_send_inputs: bool = Field(
        False, description="Attach the inputs (after PII redaction) to Sentry events."
    )
    # OpenTelemetry OTLP/HTTP metrics (server side; extra ``otel`` for protobuf).
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP base URL, e.g. http://collector:4318 (enables it)."
    )
    otlp_headers: dict[str, str] = Field(
        default_factory=dict, description="Extra headers, e.g. an authorization token."
    )
    otlp_encoding: str = Field(
        "json", pattern="^(json|protobuf)$", description="json, or protobuf (needs extra 'otel')."
    )
    otlp_interval_s: float = Field(
        60.0, gt=0, description="Seconds between exports of finished minutes."
    )
    # Shared by the server-side exporters (CloudWatch, OTLP).
    export_lag_s: float = Field(
        30.0, ge=0, description="A minute is published once it ended this many seconds ago."
    )
    export_backfill_s: float = Field(
        0.0, ge=0, description="On start, also publish the minutes that ended this far back."
    )
    # Shared by the network sinks.
    sink_timeout_s: float = Field(5.0, gt=0, description="Timeout of each sink request.")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings, env_settings, _toml_integrations)

    def enabled(self) -> list[str]:
        """Names of the integrations switched on, in a stable order."""
        return [name for name, field in SWITCHES.items() if getattr(self, field)]


def _toml_integrations() -> dict[str, Any]:
    path = Path(os.environ.get("VIGIL_CONFIG", "vigil.toml"))
    if not path.is_file():
        return {}  # vigil.config reports a missing VIGIL_CONFIG file
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    table = data.get("integrations", {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"[integrations] in {path} must be a table.")
    flat: dict[str, Any] = {}
    for name, values in table.items():
        if not isinstance(values, dict):
            raise ConfigurationError(
                f"[integrations.{name}] in {path} must be a table, e.g. "
                f'[integrations.loki] url = "http://loki:3100". Got {values!r}.'
            )
        for key, value in values.items():
            flat[f"{name}_{key}"] = value
    return flat


def load_integration_settings(**overrides: Any) -> IntegrationSettings:
    """Integration settings from arguments (None: unset), environment, vigil.toml, defaults."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return IntegrationSettings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "?"
        raise ConfigurationError(
            f"Integration setting {name!r} (VIGIL_{name.upper()} or [integrations] in "
            f"vigil.toml) is invalid: {err['msg']}. Got {err.get('input')!r}."
        ) from None
