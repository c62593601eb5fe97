"""Send events to a vigil server over HTTP (httpx, keep-alive, gzip for large bodies).

Bodies are not compressed when the server is on this machine (a loopback address):
there gzip costs the SDK more CPU per record than everything else together and saves no
time on the wire; batches to such a server go through :mod:`vigil.sdk.loopback`.
"""

from __future__ import annotations

import gzip
import http.client
import ipaddress
from collections import deque
from time import perf_counter
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson

from vigil._version import __version__
from vigil.sdk.loopback import LoopbackPoster
from vigil.sdk.transport import GZIP_LEVEL, GZIP_MIN_BYTES, SendError


class HttpTransport:
    """A :class:`~vigil.sdk.transport.Transport` that talks to ``{endpoint}/api/v1``.

    Args:
        endpoint: the server's base URL, e.g. ``http://127.0.0.1:8765``.
        api_key: sent as ``Authorization: Bearer KEY`` when given.
        timeout_s: connect/read/write timeout of each request.
        transport: an httpx transport to use instead of the network (tests).
        compress: gzip bodies over 64 KiB; default: yes, unless the endpoint's host is a
            loopback address (``localhost``, ``127.0.0.0/8``, ``::1``).

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
    ) -> None:
        self.compress = not is_loopback(endpoint) if compress is None else compress
        headers = {"User-Agent": f"vigil-sdk/{__version__}", "Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.endpoint = endpoint.rstrip("/")
        self._make_client = lambda: httpx.Client(
            base_url=self.endpoint + "/api/v1",
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)),
            transport=transport,
        )
        self._client = self._make_client()
        self._poster = (LoopbackPoster(self.endpoint + "/api/v1", headers, timeout_s)
                        if transport is None and self.endpoint.startswith("http://")
                        and is_loopback(self.endpoint) else None)
        self.timing_sink: deque[tuple[float, str | None]] | None = None

    def after_fork(self) -> None:
        """In a forked child: use new connections, never the parent's sockets."""
        self._client = self._make_client()
        if self._poster is not None:
            self._poster._conn = None  # the parent's socket: leave it to the parent

    def _post(self, path: str, body: bytes) -> httpx.Response | dict[str, Any]:
        """POST a batch: the parsed answer when it is a success, else the response."""
        if self._poster is None:
            return self._request("POST", path, body)
        headers = {"Content-Type": "application/json"}
        if self.compress and len(body) > GZIP_MIN_BYTES:
            body = gzip.compress(body, GZIP_LEVEL)
            headers["Content-Encoding"] = "gzip"
        try:
            t0 = perf_counter()
            status, content, timing = self._poster.post(path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            raise SendError(f"POST {self.endpoint}/api/v1{path} failed: "
                            f"{type(exc).__name__}: {exc}", status=None) from exc
        if self.timing_sink is not None:
            self.timing_sink.append((perf_counter() - t0, timing))
        if status < 300:
            try:
                data = orjson.loads(content)
            except orjson.JSONDecodeError:
                pass  # reported below, as on the httpx path
            else:
                return data if isinstance(data, dict) else {"result": data}
        return httpx.Response(status, content=content,
                              request=httpx.Request("POST", f"{self.endpoint}/api/v1{path}"))

    def _request(self, method: str, path: str, body: bytes | None = None) -> httpx.Response:
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/json"
            if self.compress and len(body) > GZIP_MIN_BYTES:
                body = gzip.compress(body, GZIP_LEVEL)
                headers["Content-Encoding"] = "gzip"
        try:
            t0 = perf_counter()
            resp = self._client.request(method, path, content=body, headers=headers)
            if self.timing_sink is not None:
                self.timing_sink.append((perf_counter() - t0, resp.headers.get("server-timing")))
            return resp
        except httpx.TransportError as exc:  # connect/read/write errors and timeouts
            raise SendError(
                f"{method} {self.endpoint}/api/v1{path} failed: {type(exc).__name__}: {exc}",
                status=None,
            ) from exc

    def get_model(self, name: str) -> dict[str, Any] | None:
        resp = self._request("GET", f"/models/{quote(name, safe='')}")
        if resp.status_code == 404 and _error_code(resp) == "model_not_found":
            return None
        return _json_or_raise(resp)

    def register_model(self, payload: dict[str, Any]) -> dict[str, Any]:
        return _json_or_raise(self._request("POST", "/models", orjson.dumps(payload)))

    def send(self, model: str, kind: str, body: bytes) -> dict[str, Any]:
        resp = self._post(f"/models/{quote(model, safe='')}/{kind}", body)
        if isinstance(resp, dict):
            return resp
        if resp.status_code == 422:
            details = _error_body(resp).get("details")
            if isinstance(details, dict) and "rejected" in details:
                return details  # every record was rejected: the result is in the details
        return _json_or_raise(resp)

    def close(self) -> None:
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


def _error_body(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return {}
    err = data.get("error") if isinstance(data, dict) else None
    return err if isinstance(err, dict) else {}


def _error_code(resp: httpx.Response) -> str | None:
    code = _error_body(resp).get("code")
    return code if isinstance(code, str) else None


def _json_or_raise(resp: httpx.Response) -> dict[str, Any]:
    if resp.status_code < 300:
        try:
            data = orjson.loads(resp.content)
        except orjson.JSONDecodeError as exc:
            raise SendError(
                f"{resp.request.method} {resp.request.url} answered {resp.status_code} "
                f"with a body that is not JSON: {resp.content[:200]!r}",
                status=502,
            ) from exc
        return data if isinstance(data, dict) else {"result": data}
    err = _error_body(resp)
    message = err.get("message") or resp.text[:500]
    raise SendError(
        f"{resp.request.method} {resp.request.url} answered {resp.status_code}: {message}",
        status=resp.status_code,
        error_code=err.get("code"),
        details=err.get("details"),
    )
