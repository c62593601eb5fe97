"""Who is looking at the dashboard, and protection of its forms.

When the server requires API keys, the sign-in form takes a key once, checks it and
starts a server-side session (:mod:`vigil.store.sessions`): the browser gets only an
opaque random id in an ``HttpOnly``, ``SameSite=Strict`` cookie (gone when the browser
closes, never readable by page scripts, never in a URL, ``Secure`` under https — also
behind a TLS-terminating proxy when ``VIGIL_TRUST_FORWARDED_PROTO`` is set); the key
itself never leaves the form. Each request looks the session up, so signing out (which
deletes it) and revoking the key end it at once on every replica; a session lasts at
most 12 hours. A request that carries an ``Authorization`` header is authenticated by it
instead.

Actions (forms that change state) also carry a CSRF token equal to a random cookie
(double submit): another site can neither read the cookie nor, with ``SameSite=Strict``,
send it, so it cannot forge an action even when auth is off on a loopback server.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from vigil.errors import (
    AuthenticationError,
    InvalidParameterError,
    PayloadTooLargeError,
    PermissionDeniedError,
)
from vigil.server.auth import Principal, granted
from vigil.store import sessions

SESSION_COOKIE = "vigil_session"
CSRF_COOKIE = "vigil_csrf"
_MAX_FORM_BYTES = 64 * 1024


async def principal(request: Request, scope: str) -> Principal:
    """The caller, who must hold ``scope``: from the Authorization header, else from the
    session cookie; anyone when auth is off."""
    auth = request.app.state.auth
    if auth.required and "authorization" not in request.headers:
        session_id = request.cookies.get(SESSION_COOKIE, "")
        if not session_id:
            raise AuthenticationError("Sign in with an API key to see the dashboard.")
        found = await run_in_threadpool(sessions.session_key, request.app.state.store, session_id)
        if found is None:
            raise AuthenticationError(
                "Your session ended (signed out, expired, or its key was revoked); sign in again."
            )
        who = Principal(found[0], granted(found[1]))
    else:
        who = await auth.principal(request)
    if not who.has(scope):
        raise PermissionDeniedError(
            f"This needs an API key with the {scope} scope; the key has "
            f"{', '.join(sorted(who.scopes)) or 'no scopes'}."
        )
    return who


def is_https(request: Request) -> bool:
    """Whether the browser talks https to us: directly, or to a TLS-terminating proxy
    that says so in X-Forwarded-Proto (trusted only with VIGIL_TRUST_FORWARDED_PROTO)."""
    if request.url.scheme == "https":
        return True
    if request.app.state.settings.trust_forwarded_proto:
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return proto == "https"
    return False


async def start_session(request: Request, response: Response, key_id: str) -> None:
    """Start a server-side session for ``key_id``; the cookie holds only its id."""
    session_id = await run_in_threadpool(sessions.create_session, request.app.state.store, key_id)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        path="/",
        secure=is_https(request),
    )


async def end_session(request: Request, response: Response) -> None:
    """Delete this browser's session on the server and its cookie."""
    session_id = request.cookies.get(SESSION_COOKIE, "")
    if session_id:
        await run_in_threadpool(sessions.end_session, request.app.state.store, session_id)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=is_https(request)
    )


def csrf_token(request: Request) -> str:
    """The CSRF token for this browser (the cookie's, or a new one to set)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) != 43:  # secrets.token_urlsafe(32)
        token = secrets.token_urlsafe(32)
    return token


def set_csrf_cookie(request: Request, response: Response, token: str) -> None:
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", path="/", secure=is_https(request)
        )


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
            f"Got {kind or 'no content type'!r}; use the JSON API under /api/v1 instead."
        )
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
            "The form's security token is missing or stale; reload the page and try again."
        )
