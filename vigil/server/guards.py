"""Refuse drive-by requests before they reach a route; add the browser security headers.

A server on loopback with keys off is still reachable from every web page its user
visits. Three checks close that door (DESIGN.md core idea 6):

- **Host allowlist** (``VIGIL_ALLOWED_HOSTS``): a DNS-rebinding page reaches the server
  under its own name, so a Host header that is not one of ours answers 421.
- **Origin** on state-changing methods: a browser names the page that sent a request; a
  page of another origin gets 403 (so does ``Sec-Fetch-Site: cross-site`` without one).
- **Content-Type** on the JSON API (``/api/``): ``text/plain``, form and multipart
  bodies (the types a page may send without a CORS preflight) and bodies without a type
  answer 415; routes then accept only their documented types (see
  :mod:`vigil.server.body`). Other routes check their own types (the dashboard's forms
  carry CSRF tokens; the OTLP receiver takes protobuf or JSON).

:class:`SecurityHeaders` adds ``X-Content-Type-Options``, a Content-Security-Policy,
``X-Frame-Options`` and ``Referrer-Policy`` to every response.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.config import Settings
from vigil.server.errors import error_response

LOOPBACK_HOSTS = ("localhost", "*.localhost", "127.0.0.0/8", "::1")
_WILDCARD_BINDS = frozenset({"0.0.0.0", "::", "[::]", ""})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# the request types a web page may send cross-site without a CORS preflight
_SIMPLE_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
_API_PREFIX = "/api/"  # the JSON API; other routes check their own media types
_UNCHECKED_HOST_PATHS = frozenset({"/healthz", "/readyz"})  # orchestrators' probes

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class HostAllowlist:
    """Host names, ``*.suffix`` patterns and networks; ``None`` patterns accept any host.

    Examples:
        >>> hosts = HostAllowlist(LOOPBACK_HOSTS)
        >>> [hosts.allows(h) for h in ("127.0.0.1:8765", "[::1]:80", "app.localhost",
        ...                           "evil.example", "127.0.0.1.evil.example")]
        [True, True, True, False, False]
    """

    def __init__(self, patterns: Iterable[str] | None) -> None:
        self.any = patterns is None
        self.names: set[str] = set()
        self.suffixes: list[str] = []
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self._seen: dict[str, bool] = {}
        for raw in patterns or ():
            item = raw.strip().lower().rstrip(".")
            if not item:
                continue
            if item == "*":
                self.any = True
            elif item.startswith("*."):
                self.suffixes.append(item[1:])
            else:
                try:
                    self.networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
                except ValueError:
                    self.names.add(item)

    @classmethod
    def from_settings(cls, settings: Settings) -> HostAllowlist:
        """``VIGIL_ALLOWED_HOSTS``, else loopback names plus the bind address; any host
        when bound to every interface with keys required (keys protect it then)."""
        if settings.allowed_hosts.strip():
            return cls(settings.allowed_hosts.split(","))
        bind = settings.host.strip().lower()
        if bind in _WILDCARD_BINDS:
            return cls(None if settings.auth_required else LOOPBACK_HOSTS)
        return cls((*LOOPBACK_HOSTS, bind))

    def allows(self, host: str) -> bool:
        """Whether a Host header value (port allowed) names this server (answers are
        cached: a server sees few distinct Host values)."""
        if self.any:
            return True
        known = self._seen.get(host)
        if known is None:
            known = self._allows(host)
            if len(self._seen) > 1024:
                self._seen.clear()
            self._seen[host] = known
        return known

    def _allows(self, host: str) -> bool:
        name = split_host(host)
        if not name:
            return False
        if name in self.names or any(name.endswith(s) for s in self.suffixes):
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        return any(address in net for net in self.networks)


def split_host(host: str) -> str:
    """The name of a Host header value, lower-cased, without port or brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


class RequestGuard:
    """ASGI middleware: Host allowlist, Origin check, no CORS-simple bodies on the API."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.hosts = HostAllowlist.from_settings(settings)
        self.trust_proxy = settings.trust_forwarded_proto

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = self.check(scope)
            if problem is not None:
                status, code, message = problem
                await error_response(status, code, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def check(self, scope: Scope) -> tuple[int, str, str] | None:
        """The (status, code, message) to refuse the request with, or None."""
        headers = _headers(scope)
        path: str = scope.get("path", "")
        host = headers.get("host")
        if host is not None and path not in _UNCHECKED_HOST_PATHS and not self.hosts.allows(host):
            return (
                421,
                "host_not_allowed",
                f"This server does not answer to Host {host[:100]!r} (a DNS-rebinding "
                "guard). Add the name to VIGIL_ALLOWED_HOSTS if it is yours.",
            )
        if scope.get("method", "GET") in _SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None:
            if not self._same_origin(origin, headers):
                return (
                    403,
                    "cross_origin",
                    f"Requests from the web page at {origin[:100]!r} are refused: only "
                    "this server's own pages may change state.",
                )
        elif headers.get("sec-fetch-site") == "cross-site":
            return (403, "cross_origin", "Cross-site requests are refused.")
        if not path.startswith(_API_PREFIX):
            return None
        kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        has_body = (
            headers.get("content-length", "0").strip() not in ("", "0")
            or "transfer-encoding" in headers
        )
        if kind in _SIMPLE_TYPES or (has_body and not kind):
            return (
                415,
                "unsupported_media_type",
                f"The API does not accept a {kind or 'body without Content-Type'!r}: "
                "send JSON with Content-Type: application/json (or the route's "
                "documented binary type).",
            )
        return None

    def _same_origin(self, origin: str, headers: dict[str, str]) -> bool:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (sandboxed frames, file: pages) and garbage
        ours = {headers.get("host", "").lower()}
        if self.trust_proxy and "x-forwarded-host" in headers:
            ours.add(headers["x-forwarded-host"].split(",")[0].strip().lower())
        return _with_default_port(parts.netloc.lower(), parts.scheme) in {
            _with_default_port(o, parts.scheme) for o in ours if o
        }


def _with_default_port(netloc: str, scheme: str) -> str:
    if netloc.endswith("]") or ":" not in netloc.rsplit("]", 1)[-1]:
        return f"{netloc}:{443 if scheme == 'https' else 80}"
    return netloc


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        out.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return out


class SecurityHeaders:
    """ASGI middleware: the browser security headers on every response (a route's own
    value wins, e.g. the API docs page's CSP)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
