"""A lean keep-alive HTTP/1.1 connection for requests to a server on this machine.

On loopback the network costs nothing and the client's own CPU is what remains: httpx
spends about twice the CPU of the standard library's :mod:`http.client` on a 500 kB POST
(client bookkeeping, cookies, and a connection layer that copies the unsent rest of the
body after each partial write). :class:`~vigil.sdk.http.HttpTransport` therefore sends
every request to a loopback ``http://`` endpoint through this class and keeps httpx for
remote servers (TLS, proxies).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import http.client


class LoopbackPoster:
    """POSTs over one reused connection; reconnects once when a kept-alive one went stale.

    Args:
        endpoint: ``http://host:port[/prefix]`` of a server on a loopback address.
        headers: sent with every request (user agent, authorization, ...).
        timeout_s: connect and read timeout.
    """

    def __init__(self, endpoint: str, headers: dict[str, str], timeout_s: float) -> None:
        parts = urlsplit(endpoint)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.headers = headers
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None

    def post(
        self, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, str | None]:
        """Send one POST; return (status, body, Server-Timing header)."""
        return self.request("POST", path, body, headers)

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, str | None]:
        """Send one request; return (status, body, Server-Timing header).

        Raises:
            OSError: the server could not be reached, or it did not answer in time.
            http.client.HTTPException: the answer was not valid HTTP.
        """
        import http.client  # on the first request (the sender thread), not in Monitor()

        all_headers = {**self.headers, **headers}
        while True:
            conn = self._conn
            fresh = conn is None
            if conn is None:
                conn = self._conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout_s
                )
            try:
                conn.request(method, self.prefix + path, body=body, headers=all_headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                # A kept-alive connection the server closed while idle fails at once;
                # ingest is idempotent, so sending again on a new one is safe. Anything
                # else (refused, timed out) is the caller's to retry later.
                if fresh or isinstance(exc, TimeoutError):
                    raise
                continue
            if resp.will_close:
                self.close()
            return resp.status, data, resp.getheader("server-timing")

    def close(self) -> None:
        """Drop the connection (the next POST opens a new one)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
