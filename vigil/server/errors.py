"""One place that turns exceptions into ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from vigil.errors import VigilError, http_status

log = logging.getLogger("vigil.server")


class JsonResponse(Response):
    """JSON serialised with orjson (numpy values allowed)."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def error_response(status: int, code: str, message: str, details: object = None) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status
    )


_VERBS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})


def _allowed_methods(request: Request, first: str | None) -> list[str]:
    """The methods every route of the request's path takes (Starlette names only the
    first matching route's): from the OpenAPI document's path templates."""
    methods = {m.strip() for m in (first or "").split(",") if m.strip()}
    segments = request.url.path.rstrip("/").split("/")
    for template, operations in request.app.openapi().get("paths", {}).items():
        parts = template.rstrip("/").split("/")
        if len(parts) == len(segments) and all(
            p == s or (p.startswith("{") and p.endswith("}") and s)
            for p, s in zip(parts, segments, strict=True)
        ):
            methods |= {m.upper() for m in operations if m in _VERBS}
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VigilError)
    async def _vigil(_: Request, exc: VigilError) -> JsonResponse:
        status = http_status(exc)
        if status >= 500:
            log.error("request failed: %s", exc)
        return error_response(status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JsonResponse:
        details = [
            {"field": ".".join(str(p) for p in err.get("loc", ())), "reason": err.get("msg", "")}
            for err in exc.errors()
        ]
        return error_response(422, "validation_failed", "The request is invalid.", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JsonResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            first = (exc.headers or {}).get("Allow")
            response.headers["Allow"] = ", ".join(_allowed_methods(request, first))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JsonResponse:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "The server failed; see its log.")
