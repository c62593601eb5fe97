"""Settings, declared once: explicit argument > ``VIGIL_*`` environment > vigil.toml > default.

vigil.toml is read from ``VIGIL_CONFIG`` or ./vigil.toml; its ``[settings]`` table holds
the same names as below (the rest of the file holds rules, notifiers and policies).
Nothing is read at import time: call :func:`load_settings` where settings are needed.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vigil.errors import ConfigurationError


class AuthMode(StrEnum):
    """When API keys are required."""

    AUTO = "auto"  # required unless the server is bound to a loopback address
    REQUIRED = "required"
    OFF = "off"


class TokenPrice(BaseModel):
    """What a language model's tokens cost, per million (in the currency of your choice)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0, description="Price of one million input (prompt) tokens.")
    output: float = Field(ge=0, description="Price of one million output (completion) tokens.")


class Settings(BaseSettings):
    """Every vigil setting, with its type, default and help."""

    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="ignore", frozen=True)

    home: Path = Field(
        Path("vigil-data"), description="Data folder (SQLite file, spool, artifacts)."
    )
    spool_dir: Path | None = Field(
        None,
        description="Where the SDK keeps batches it could not deliver yet, one "
        "subfolder per endpoint and model; default {home}/spool.",
    )
    db_url: str = Field(
        "",
        description="SQLAlchemy URL of the store; empty means sqlite:///{home}/vigil.db. "
        "Use postgresql+psycopg://user:pass@host/db for PostgreSQL.",
    )
    host: str = Field("127.0.0.1", description="Address the server binds to.")
    port: int = Field(8765, ge=0, le=65535, description="Port the server listens on.")
    auth: AuthMode = Field(
        AuthMode.AUTO, description="auto: keys required off loopback; required; off."
    )
    max_batch_records: int = Field(
        10_000, ge=1, description="Most records one ingest request may carry."
    )
    max_body_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest request body accepted (decompressed)."
    )
    log_level: str = Field("info", description="Log level of the server.")
    rules_interval_s: float = Field(
        30.0,
        ge=0,
        description="Seconds between evaluations of the alert rules in the "
        "server; 0 disables the background evaluation.",
    )
    registry_check_interval_s: float = Field(
        30.0,
        ge=0,
        description="Seconds between checks of the registry's automatic rollback "
        "policies and running canaries; 0 disables them.",
    )
    retention_interval_s: float = Field(
        3600.0, ge=0, description="Seconds between runs of the retention job; 0 disables it."
    )
    aggregate_interval_s: float = Field(
        1.0,
        ge=0,
        description="Seconds between rounds of the aggregator that folds ingested "
        "batches into the minute rollups (reads fold what is pending first); 0 disables "
        "the background loop.",
    )
    role: Literal["all", "ingest", "worker"] = Field(
        "all",
        description="What this server runs: all (API, dashboard and background "
        "jobs), ingest (API and dashboard; no jobs but the aggregator) or worker (jobs and "
        "the API). Replicas of role all or worker elect one leader per job.",
    )
    lease_ttl_s: float = Field(
        15.0,
        ge=1,
        description="Seconds a job's lease lasts without renewal; when its "
        "leader dies another replica takes the job over within 4/3 of this.",
    )
    max_field_bytes: int = Field(
        256 * 1024,
        ge=1024,
        description="Largest string one prediction field (an input, "
        "the output) may hold; a record with a longer one is rejected on its own.",
    )
    rate_limit_per_minute: int = Field(
        0,
        ge=0,
        description="Requests per minute allowed per API key (or client address "
        "without one); 0 means no limit.",
    )
    builtin_rules: bool = Field(
        True,
        description="Evaluate vigil's default alert rules (rejected-records); a "
        "stored rule of the same name replaces or, with enabled = false, switches one off.",
    )
    public_url: str = Field(
        "",
        description="Base URL others reach this server at (download links in retrain "
        "webhooks); empty means http://HOST:PORT.",
    )

    genai_prices: dict[str, TokenPrice] = Field(
        default_factory=dict,
        description="Token prices per model for the cost of "
        'OpenTelemetry GenAI spans: JSON such as {"gpt-4o": {"input": 2.5, '
        '"output": 10}} (per million tokens), keyed by the response or request model.',
    )

    max_artifact_bytes: int = Field(
        1024**3,
        ge=1024,
        description="Largest artifact upload, and the most bytes its tar archive may unpack to.",
    )
    max_artifact_members: int = Field(
        10_000, ge=1, description="Most files and folders an uploaded tar archive may hold."
    )
    max_artifact_ratio: float = Field(
        100.0,
        ge=1,
        description="Most times an uploaded archive may expand (unpacked size "
        "over upload size) once it unpacks to more than 16 MiB.",
    )
    artifact_timeout_s: float = Field(
        300.0, gt=0, description="Seconds an artifact upload may take to arrive and unpack."
    )
    min_free_bytes: int = Field(
        64 * 1024 * 1024,
        ge=0,
        description="/readyz reports unavailable when the SQLite "
        "database's file system has less free space than this; 0 turns the check off.",
    )
    signing_key: Path | None = Field(
        None,
        description="Ed25519 private key (PEM) that signs artifacts, best kept outside "
        "the data folder; created there on first use. Default: {home}/keys/signing.pem.",
    )
    signing_key_passphrase: SecretStr | None = Field(
        None, description="Passphrase of the signing key (it is created encrypted with it)."
    )
    trusted_keys: Path | None = Field(
        None,
        description="Folder of trusted public keys (*.pub), pinned: vigil only reads "
        "it. Default: {home}/keys/trusted, to which the signing key's public key is added.",
    )
    allowed_hosts: str = Field(
        "",
        description="Comma-separated Host names the server answers (port ignored; "
        "'*.example.com' matches subdomains, '*' any). Default: loopback names and the bind "
        "address; any name when bound to all interfaces with keys required.",
    )
    trust_forwarded_proto: bool = Field(
        False,
        description="Behind a TLS-terminating proxy: take the scheme from "
        "X-Forwarded-Proto (the dashboard's cookies are then marked Secure).",
    )
    allow_private_targets: str = Field(
        "",
        description="Comma-separated networks (CIDR) or host names that probes and "
        "webhooks may reach although loopback, private or link-local; '*' allows all.",
    )

    @model_validator(mode="after")
    def _fill_db_url(self) -> Settings:
        if not self.db_url:
            object.__setattr__(self, "db_url", f"sqlite:///{self.home / 'vigil.db'}")
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):
        return (init_settings, env_settings, _toml_settings)

    @property
    def base_url(self) -> str:
        """The server's URL as others reach it: ``public_url``, else ``http://host:port``."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def auth_required(self) -> bool:
        """Whether requests must carry an API key, given the bind address."""
        if self.auth is AuthMode.OFF:
            return False
        if self.auth is AuthMode.REQUIRED:
            return True
        return not is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _toml_settings() -> dict[str, Any]:
    path = Path(os.environ.get("VIGIL_CONFIG", "vigil.toml"))
    if not path.is_file():
        if "VIGIL_CONFIG" in os.environ:
            raise ConfigurationError(
                f"VIGIL_CONFIG names {str(path)!r}, which is not a file. "
                "Point it at a vigil.toml or unset it."
            )
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    table = data.get("settings", {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"[settings] in {path} must be a table.")
    return table


def load_settings(**overrides: Any) -> Settings:
    """Settings from arguments (None means unset), environment, vigil.toml and defaults."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "?"
        raise ConfigurationError(
            f"Setting {name!r} (argument, VIGIL_{name.upper()} or [settings] in vigil.toml) "
            f"is invalid: {err['msg']}. Got {err.get('input')!r}."
        ) from None
