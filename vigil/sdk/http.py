"""Send events to a vigil server over HTTP (httpx, keep-alive, gzip for large bodies).

Bodies are not compressed when the server is on this machine (a loopback address):
there gzip costs the SDK more CPU per record than everything else together and saves no
time on the wire; every request to such a server goes through :mod:`vigil.sdk.loopback`
(the standard library). httpx, for remote servers (TLS, proxies), is imported on the
first request, in the sender thread, so making a Monitor never pays for it.
"""

from __future__ import annotations

import gzip
import ipaddress
from collections import deque
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import orjson

from vigil._version import __version__
from vigil.sdk.columnar import ARROW_STREAM, arrow_available, is_columnar
from vigil.sdk.loopback import LoopbackPoster
from vigil.sdk.transport import GZIP_LEVEL, GZIP_MIN_BYTES, SendError

if TYPE_CHECKING:
    import httpx


@dataclass(slots=True)
class _Answer:
    """A server's answer, whichever client got it."""

    status_code: int
    content: bytes
    method: str
    url: str

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class HttpTransport:
    """A :class:`~vigil.sdk.transport.Transport` that talks to ``{endpoint}/api/v1``.

    Args:
        endpoint: the server's base URL, e.g. ``http://127.0.0.1:8765``.
        api_key: sent as ``Authorization: Bearer KEY`` when given.
        timeout_s: connect/read/write timeout of each request.
        transport: an httpx transport to use instead of the network (tests).
        compress: gzip bodies over 64 KiB; default: yes, unless the endpoint's host is a
            loopback address (``localhost``, ``127.0.0.0/8``, ``::1``).
        columnar: let a Monitor send prediction batches as Arrow tables
            (:mod:`vigil.sdk.columnar`); default: yes when pyarrow is installed and the
            server is not on a loopback address. There, without gzip, orjson costs the SDK
            less CPU than building Arrow columns from Python values (bench/sdk/README.md);
            off this machine the Arrow body is a third smaller on the wire. The Monitor
            falls back to JSON by itself when the server refuses them (415).

    Attributes:
        timing_sink: when set (by a resource sampler), each request appends its round
            trip in seconds and the server's ``Server-Timing`` header.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        compress: bool | None = None,
        columnar: bool | None = None,
    ) -> None:
        self.columnar = (
            (arrow_available() and not is_loopback(endpoint)) if columnar is None else columnar
        )
        self.compress = not is_loopback(endpoint) if compress is None else compress
        headers = {"User-Agent": f"vigil-sdk/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.endpoint = endpoint.rstrip("/")
        self._headers = headers
        self._timeout_s = timeout_s
        self._mock = transport
        self._client: httpx.Client | None = None  # made on first use (httpx loads then)
        self._poster = (
            LoopbackPoster(self.endpoint + "/api/v1", headers, timeout_s)
            if transport is None
            and self.endpoint.startswith("http://")
            and is_loopback(self.endpoint)
            else None
        )
        self.timing_sink: deque[tuple[float, str | None]] | None = None

    def _http(self) -> httpx.Client:
        """The httpx client, made (and httpx imported) on first use."""
        if self._client is None:
            import httpx

            self._client = httpx.Client(
                base_url=self.endpoint + "/api/v1",
                headers=self._headers,
                timeout=httpx.Timeout(self._timeout_s, connect=min(self._timeout_s, 3.0)),
                transport=self._mock,
            )
        return self._client

    def after_fork(self) -> None:
        """In a forked child: use new connections, never the parent's sockets."""
        self._client = None  # the parent's pool: leave it to the parent
        if self._poster is not None:
            self._poster._conn = None  # the parent's socket: leave it to the parent

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        content_type: str = "application/json",
        timed: bool = False,
    ) -> _Answer:
        """One request: through the loopback poster when there is one, else httpx."""
        headers = {}
        if body is not None:
            headers["Content-Type"] = content_type
            if self.compress and len(body) > GZIP_MIN_BYTES:
                body = gzip.compress(body, GZIP_LEVEL)
                headers["Content-Encoding"] = "gzip"
        url = f"{self.endpoint}/api/v1{path}"
        t0 = perf_counter()
        if self._poster is not None:
            import http.client  # loaded by the poster's first request already

            try:
                status, content, timing = self._poster.request(method, path, body, headers)
            except (OSError, http.client.HTTPException) as exc:
                raise SendError(
                    f"{method} {url} failed: {type(exc).__name__}: {exc}", status=None
                ) from exc
        else:
            import httpx

            try:
                resp = self._http().request(method, path, content=body, headers=headers)
            except httpx.TransportError as exc:  # connect/read/write errors and timeouts
                raise SendError(
                    f"{method} {url} failed: {type(exc).__name__}: {exc}", status=None
                ) from exc
            status, content = resp.status_code, resp.content
            timing = resp.headers.get("server-timing")
            url = str(resp.request.url)
        if timed and self.timing_sink is not None:
            self.timing_sink.append((perf_counter() - t0, timing))
        return _Answer(status, content, method, url)

    def get_model(self, name: str) -> dict[str, Any] | None:
        resp = self._request("GET", f"/models/{quote(name, safe='')}")
        if resp.status_code == 404 and _error_code(resp) == "model_not_found":
            return None
        return _json_or_raise(resp)

    def register_model(self, payload: dict[str, Any]) -> dict[str, Any]:
        return _json_or_raise(self._request("POST", "/models", orjson.dumps(payload)))

    def send(self, model: str, kind: str, body: bytes) -> dict[str, Any]:
        """POST a batch; a columnar body (Arrow IPC, see :mod:`vigil.sdk.columnar`) is
        recognised by its first bytes and sent with the Arrow media type."""
        resp = self._request(
            "POST",
            f"/models/{quote(model, safe='')}/{kind}",
            body,
            content_type=ARROW_STREAM if is_columnar(body) else "application/json",
            timed=True,
        )
        if resp.status_code == 422:
            details = _error_body(resp).get("details")
            if isinstance(details, dict) and "rejected" in details:
                return details  # every record was rejected: the result is in the details
        return _json_or_raise(resp)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._poster is not None:
            self._poster.close()


def is_loopback(endpoint: str) -> bool:
    """Whether the URL's host is this machine's loopback interface.

    Examples:
        >>> [is_loopback(u) for u in ("http://127.0.0.1:8765", "http://localhost",
        ...                           "http://[::1]:80", "https://vigil.example.com")]
        [True, True, True, False]
    """
    try:
        host = urlsplit(endpoint).hostname or ""
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error_body(resp: _Answer) -> dict[str, Any]:
    try:
        data = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return {}
    err = data.get("error") if isinstance(data, dict) else None
    return err if isinstance(err, dict) else {}


def _error_code(resp: _Answer) -> str | None:
    code = _error_body(resp).get("code")
    return code if isinstance(code, str) else None


def _json_or_raise(resp: _Answer) -> dict[str, Any]:
    if resp.status_code < 300:
        try:
            data = orjson.loads(resp.content)
        except orjson.JSONDecodeError as exc:
            raise SendError(
                f"{resp.method} {resp.url} answered {resp.status_code} "
                f"with a body that is not JSON: {resp.content[:200]!r}",
                status=502,
            ) from exc
        return data if isinstance(data, dict) else {"result": data}
    err = _error_body(resp)
    message = err.get("message") or resp.text[:500]
    raise SendError(
        f"{resp.method} {resp.url} answered {resp.status_code}: {message}",
        status=resp.status_code,
        error_code=err.get("code"),
        details=err.get("details"),
    )
