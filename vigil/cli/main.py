"""The ``vigil`` console script."""

from __future__ import annotations

import sys

# `pip install vigil` is the SDK alone: the commands need the `server` extra. Say so in one
# line instead of an import traceback (a missing package that is not one of the server's
# is a real error and is raised).
_SERVER_PACKAGES = frozenset(
    {
        "typer",
        "click",
        "rich",
        "fastapi",
        "starlette",
        "uvicorn",
        "sqlalchemy",
        "alembic",
        "psycopg",
        "pydantic",
        "pydantic_settings",
        "numpy",
        "scipy",
        "pandas",
        "pyarrow",
        "datasketches",
        "river",
        "sklearn",
        "jinja2",
        "plotly",
        "yaml",
        "cryptography",
        "picklescan",
        "stdnum",
        "fastapi_offline",
        "prometheus_client",
        "psutil",
    }
)
try:
    import typer

    from vigil._version import __version__
    from vigil.cli import alerts, db, demo, export, keys, report, rules
    from vigil.cli import audit as audit_cli
    from vigil.cli import privacy as privacy_cli
    from vigil.cli import registry as registry_cli
    from vigil.cli.common import err_console
    from vigil.cli.evaluate import evaluate_command
    from vigil.cli.profile import profile_command
    from vigil.cli.server import server
    from vigil.integrations.cli import app as integrations_app
except ModuleNotFoundError as _missing:
    if (_missing.name or "").partition(".")[0] not in _SERVER_PACKAGES:
        raise
    sys.stderr.write(
        f"vigil: this is the SDK alone ({_missing.name} is not installed); the vigil "
        'command needs the server: pip install "vigil[server]"\n'
    )
    raise SystemExit(1) from None

app = typer.Typer(
    name="vigil",
    no_args_is_help=True,
    add_completion=False,
    help="Monitor and maintain machine-learning models in production.",
    pretty_exceptions_enable=False,
)
app.command("server")(server)
app.command("demo")(demo.demo)
app.command("profile")(profile_command)
app.command("evaluate")(evaluate_command)
app.add_typer(db.app, name="db")
app.add_typer(report.app, name="report")
app.add_typer(keys.app, name="keys")
app.add_typer(registry_cli.app, name="registry")
app.add_typer(privacy_cli.app, name="privacy")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(rules.app, name="rules")
app.add_typer(alerts.app, name="alerts")
app.add_typer(export.app, name="export")
app.add_typer(integrations_app, name="integrations")

_DEBUG = {"on": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vigil {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    _DEBUG["on"] = debug


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; vigil errors print one line (tracebacks only with --debug)."""
    from vigil.errors import VigilError

    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args, standalone_mode=False)
    except VigilError as exc:
        if "--debug" in args:
            raise
        err_console.print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except typer.Abort:
        err_console.print("Aborted.")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors are handled below; others are bugs
        import click

        # Typer >= 0.20 vendors click: its usage errors (unknown option, bad value,
        # missing argument) are TyperExceptions, not click's; both print Typer's usage
        # message and exit 2 instead of a traceback
        if isinstance(exc, click.ClickException | typer.TyperException):
            show = getattr(exc, "show", None)
            if callable(show):
                show()
            else:
                err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            sys.exit(int(getattr(exc, "exit_code", 2)))
        raise
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
