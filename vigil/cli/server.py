"""``vigil server``: the ingest and query server."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import typer

from vigil.cli.common import DbOption, HomeOption, err_console, fail, settings_from


def server(
    db: str | None = DbOption,
    home: Path | None = HomeOption,
    host: str | None = typer.Option(
        None, "--host", help="Bind address (VIGIL_HOST, default 127.0.0.1).", show_default=False
    ),
    port: int | None = typer.Option(
        None, "--port", help="Port (VIGIL_PORT, default 8765).", show_default=False
    ),
    auth: str | None = typer.Option(
        None, "--auth", help="auto, required or off (VIGIL_AUTH).", show_default=False
    ),
    no_upgrade: bool = typer.Option(
        False, "--no-upgrade", help="Refuse to start on an outdated schema instead of migrating it."
    ),
    role: str | None = typer.Option(
        None,
        "--role",
        help="all, ingest or worker (VIGIL_ROLE, "
        "default all): ingest serves the API and dashboard and "
        "runs no background jobs; worker and all also run the "
        "jobs, one leader per job across replicas.",
        show_default=False,
    ),
) -> None:
    """Run the server: ingest API, queries, /metrics and the dashboard."""
    import uvicorn

    from vigil.server.app import create_app, proxy_options, settle_process
    from vigil.store import open_store
    from vigil.store.health import check_data_folder

    settings = settings_from(db, home, host=host, port=port, auth=auth, role=role)
    sock = bind(settings.host, settings.port)  # before the store: a taken port changes nothing
    try:
        check_data_folder(settings.db_url)  # one line naming the path, not "unable to open"
        store = open_store(settings.db_url, upgrade=not no_upgrade)
    except BaseException:
        sock.close()
        raise
    try:
        app = create_app(settings, store)
        mode = "required" if settings.auth_required else "off (loopback)"
        err_console.print(
            f"vigil serving on http://{settings.host}:{settings.port}  "
            f"db={_safe(settings.db_url)}  auth={mode}  role={settings.role}"
        )
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            access_log=False,
            **proxy_options(settings),
        )
        settle_process()  # the collector and BLAS as a long-lived ingest server needs
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        store.close()


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` for uvicorn to listen on.

    Binding here rather than inside uvicorn turns "address in use" into one ``error:``
    line and exit status 1, instead of uvicorn's log record and a bare exit.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        fail(f"cannot resolve the host {host!r}: {exc.strerror} (see --host / VIGIL_HOST)")
    infos.sort(key=lambda info: info[0] != socket.AF_INET)  # "localhost": 127.0.0.1 first
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restarts reuse TIME_WAIT
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} is in use on {host}")
        if exc.errno == errno.EACCES:
            fail(
                f"no permission to listen on port {port} of {host} (ports below 1024 "
                "need privileges; pick another with --port)"
            )
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    sock.set_inheritable(True)
    return sock


def _safe(url: str) -> str:
    from vigil.store.engine import display_url

    return display_url(url)
