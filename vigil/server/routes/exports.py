"""Exported data sets: downloads by expiring signed link (retrain webhooks) or API key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from vigil.engine.exports import links as export_links
from vigil.errors import NotFoundError, PermissionDeniedError

router = APIRouter(prefix="/api/v1", tags=["exports"])


@router.get("/exports/{name}")
async def download_export(
    name: str, request: Request, expires: str | None = None, signature: str | None = None
) -> FileResponse:
    """Download an exported data set (Parquet). A link from a retrain webhook carries
    ``expires`` and ``signature`` and needs no key; otherwise the read scope is needed."""
    home = request.app.state.settings.home
    if expires is not None or signature is not None:
        path = export_links.verify(home, name, expires or "", signature or "")
    else:
        principal = await request.app.state.auth.principal(request)
        if not principal.has("read"):
            raise PermissionDeniedError(
                f"This route needs the read scope; the key has {sorted(principal.scopes)}."
            )
        path = export_links.exports_dir(home) / export_links.check_name(name)
    if not path.is_file():
        raise NotFoundError(f"No exported data set named {name!r} (removed or never made).")
    return FileResponse(path, media_type="application/vnd.apache.parquet", filename=name)
