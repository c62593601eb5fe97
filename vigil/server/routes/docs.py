"""The API documentation (Swagger UI, ReDoc) with its assets served by vigil itself.

FastAPI's default /docs and /redoc pages load their scripts from a CDN and start Swagger
UI with an inline script: broken on an air-gapped host, a third-party script on an admin
page, and incompatible with the Content-Security-Policy (``script-src 'self'``). Here the
assets come from the installed ``fastapi-offline`` package (only its files are used) and
the start-up script is a file of its own.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from vigil.errors import NotFoundError

router = APIRouter(include_in_schema=False)

_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_INIT = b"""window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"});
});
"""
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vigil API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon.png"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script></body></html>
"""


_REDOC = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vigil API</title>
<link rel="icon" type="image/png" href="/docs/assets/favicon.png"></head>
<body><redoc spec-url="/openapi.json" disable-search></redoc>
<script src="/docs/assets/redoc.standalone.js"></script></body></html>
"""


@lru_cache(maxsize=1)
def _folder() -> Path | None:
    try:
        import fastapi_offline
    except ImportError:
        return None
    return Path(fastapi_offline.__file__).parent / "static"


def _page(html: str) -> HTMLResponse:
    if _folder() is None:
        raise NotFoundError(
            "The API docs pages need the fastapi-offline package; "
            "/openapi.json is served without it."
        )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


@router.get("/docs")
async def docs_page() -> HTMLResponse:
    """Swagger UI for this server's OpenAPI document."""
    return _page(_PAGE)


@router.get("/redoc")
async def redoc_page() -> HTMLResponse:
    """ReDoc for this server's OpenAPI document (search off: it needs a blob: worker)."""
    return _page(_REDOC)


@router.get("/docs/assets/{name}")
async def docs_asset(name: str) -> Response:
    """A Swagger UI asset from the installed package, or the page's start-up script."""
    if name == "init.js":
        return Response(_INIT, media_type="text/javascript; charset=utf-8")
    folder = _folder()
    if folder is None or name not in _ASSETS:
        raise NotFoundError(f"No docs asset {name!r}.")
    return Response(
        (folder / name).read_bytes(),
        media_type=_ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )
