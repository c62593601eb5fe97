"""``vigil server``: the ingest and query server."""

from __future__ import annotations

from pathlib import Path

import typer

from vigil.cli.common import DbOption, HomeOption, err_console, settings_from


def server(
    db: str | None = DbOption, home: Path | None = HomeOption,
    host: str | None = typer.Option(None, "--host", help="Bind address (VIGIL_HOST, "
                                    "default 127.0.0.1).", show_default=False),
    port: int | None = typer.Option(None, "--port", help="Port (VIGIL_PORT, default 8765).",
                                    show_default=False),
    auth: str | None = typer.Option(None, "--auth", help="auto, required or off (VIGIL_AUTH).",
                                    show_default=False),
    no_upgrade: bool = typer.Option(False, "--no-upgrade", help="Refuse to start on an "
                                    "outdated schema instead of migrating it."),
) -> None:
    """Run the server: ingest API, queries, /metrics and the dashboard."""
    import uvicorn

    from vigil.server.app import create_app, proxy_options
    from vigil.store import open_store
    from vigil.store.health import check_data_folder

    settings = settings_from(db, home, host=host, port=port, auth=auth)
    check_data_folder(settings.db_url)  # one line naming the path, not "unable to open"
    store = open_store(settings.db_url, upgrade=not no_upgrade)
    app = create_app(settings, store)
    mode = "required" if settings.auth_required else "off (loopback)"
    err_console.print(
        f"vigil serving on http://{settings.host}:{settings.port}  db={_safe(settings.db_url)}  "
        f"auth={mode}"
    )
    try:
        uvicorn.run(app, host=settings.host, port=settings.port,
                    log_level=settings.log_level.lower(), access_log=False,
                    **proxy_options(settings))
    finally:
        store.close()


def _safe(url: str) -> str:
    from vigil.store.engine import display_url

    return display_url(url)
