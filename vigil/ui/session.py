"""Who is looking at the dashboard, and protection of its forms.

When the server requires API keys, the sign-in form takes a key once and keeps it in an
``HttpOnly``, ``SameSite=Strict`` session cookie (gone when the browser closes, never
readable by page scripts, never in a URL). Each request checks it like an
``Authorization: Bearer`` header — the same cache, so a revoked key stops working within
seconds on every replica and no server-side session state is needed. A request that
carries an ``Authorization`` header is authenticated by it instead.

Actions (forms that change state) also carry a CSRF token equal to a random cookie
(double submit): another site can neither read the cookie nor, with ``SameSite=Strict``,
send it, so it cannot forge an action even when auth is off on a loopback server.
"""

from __future__ import annotations

import hmac
import secrets
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request, Response

from vigil.errors import (
    AuthenticationError,
    InvalidParameterError,
    PayloadTooLargeError,
    PermissionDeniedError,
)
from vigil.server.auth import Principal

KEY_COOKIE = "vigil_key"
CSRF_COOKIE = "vigil_csrf"
_MAX_FORM_BYTES = 64 * 1024


async def principal(request: Request, scope: str) -> Principal:
    """The caller, who must hold ``scope``: from the Authorization header, else from the
    session cookie; anyone when auth is off."""
    auth = request.app.state.auth
    if auth.required and "authorization" not in request.headers:
        secret = request.cookies.get(KEY_COOKIE, "")
        if not secret:
            raise AuthenticationError("Sign in with an API key to see the dashboard.")
        # the Authenticator reads only the header; hand it the cookie's key as one
        who = await auth.principal(SimpleNamespace(
            headers={"authorization": f"Bearer {secret}"}))
    else:
        who = await auth.principal(request)
    if not who.has(scope):
        raise PermissionDeniedError(
            f"This needs an API key with the {scope} scope; the key has "
            f"{', '.join(sorted(who.scopes)) or 'no scopes'}.")
    return who


def set_key_cookie(request: Request, response: Response, secret: str) -> None:
    response.set_cookie(KEY_COOKIE, secret, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")


def clear_key_cookie(response: Response) -> None:
    response.delete_cookie(KEY_COOKIE, path="/", httponly=True, samesite="strict")


def csrf_token(request: Request) -> str:
    """The CSRF token for this browser (the cookie's, or a new one to set)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) != 43:  # secrets.token_urlsafe(32)
        token = secrets.token_urlsafe(32)
    return token


def set_csrf_cookie(request: Request, response: Response, token: str) -> None:
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form body (first value of each)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise PayloadTooLargeError(f"A form is at most {_MAX_FORM_BYTES} bytes.")
    if not body:
        return {}
    if kind != "application/x-www-form-urlencoded":
        raise InvalidParameterError(
            "Dashboard actions take an HTML form (application/x-www-form-urlencoded). "
            f"Got {kind or 'no content type'!r}; use the JSON API under /api/v1 instead.")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InvalidParameterError("The form is not valid UTF-8.") from None
    return {name: values[0] for name, values in fields.items()}


def check_csrf(request: Request, form: dict[str, Any]) -> None:
    """Refuse a cookie-authenticated (or open) action whose token is not this browser's."""
    if "authorization" in request.headers:
        return  # browsers never add this header on their own: not forgeable cross-site
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get("csrf", "")
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(cookie, sent):
        raise PermissionDeniedError(
            "The form's security token is missing or stale; reload the page and try again.")
