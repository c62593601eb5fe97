"""``vigil integrations status``: which integrations the settings switch on, and whether
their library is installed (without importing it). Secrets are masked."""

from __future__ import annotations

import importlib.util
import json
import re

import typer

from vigil.integrations.config import SWITCHES, load_integration_settings

app = typer.Typer(
    no_args_is_help=True, help="Integrations (CloudWatch, ECS/Elasticsearch, Loki, Sentry, OTLP)."
)

#: integration -> (where it runs, the module it needs, the extra that installs it)
NEEDS: dict[str, tuple[str, str | None, str | None]] = {
    "cloudwatch": ("server", "boto3", "aws"),
    "emf": ("sdk", None, None),
    "ecs": ("sdk", None, None),
    "elasticsearch": ("sdk", "httpx", None),
    "loki": ("sdk", "httpx", None),
    "sentry": ("sdk", "sentry_sdk", "sentry"),
    "otlp": ("server", "httpx", None),
}


def mask(value: str) -> str:
    """A URL or DSN with its credentials hidden.

    Examples:
        >>> mask("https://abc123@o1.ingest.sentry.io/42")
        'https://***@o1.ingest.sentry.io/42'
        >>> mask("http://loki:3100")
        'http://loki:3100'
    """
    return re.sub(r"//[^/@]+@", "//***@", value)


def status_rows() -> list[dict[str, object]]:
    """One row per integration: name, enabled, side, target, library and whether it is
    installed."""
    settings = load_integration_settings()
    rows = []
    for name, field in SWITCHES.items():
        side, module, extra = NEEDS[name]
        value = getattr(settings, field)
        installed = module is None or importlib.util.find_spec(module) is not None
        rows.append(
            {
                "name": name,
                "enabled": bool(value),
                "side": side,
                "target": mask(str(value)) if value else None,
                "library": module,
                "installed": installed,
                "extra": extra,
            }
        )
    return rows


@app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show which integrations are on and whether they can run here."""
    rows = status_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        state = "on " if row["enabled"] else "off"
        need = ""
        if row["enabled"] and not row["installed"]:
            need = f"  missing {row['library']}: pip install 'vigil[{row['extra']}]'"
        target = f"  {row['target']}" if row["target"] else ""
        typer.echo(f"{row['name']:<14}{state}  {row['side']:<7}{target}{need}".rstrip())
