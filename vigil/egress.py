"""Outbound requests the server makes for users (probes, webhooks): no internal targets.

Anyone who may create a probe or a notifier chooses a URL the server will fetch. Without
a guard that is server-side request forgery: the cloud metadata service
(169.254.169.254), a database admin page on 10.x, the vigil server itself on loopback.
:class:`EgressPolicy` resolves the host name, refuses the request when any address is
loopback, private, link-local, shared, reserved or multicast — unless the operator
allowed it with ``VIGIL_ALLOW_PRIVATE_TARGETS`` — and pins the connection to the checked
address (Host header and TLS server name keep the original name), so a DNS answer that
changes between the check and the connection cannot redirect it. Redirects are not
followed by the callers.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from vigil.errors import ConfigurationError, InvalidParameterError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SETTING = "VIGIL_ALLOW_PRIVATE_TARGETS"


class EgressRefusedError(InvalidParameterError):
    """A probe or notifier URL points at an address the server must not reach."""

    code = "target_not_allowed"


class TargetUnresolvedError(EgressRefusedError):
    """The target's host name does not resolve (now: it may later)."""

    code = "target_unresolved"


@dataclass(frozen=True)
class PinnedRequest:
    """Where to connect (``url`` with the checked address) and what to send with it."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


def is_internal(address: IPAddress) -> bool:
    """Loopback, private, link-local, shared (CGNAT), reserved, multicast, unspecified.

    Examples:
        >>> [is_internal(ipaddress.ip_address(a)) for a in (
        ...     "127.0.0.1", "10.1.2.3", "169.254.169.254", "100.64.0.1", "::ffff:127.0.0.1",
        ...     "fd00::1", "0.0.0.0", "93.184.216.34", "2606:4700::1111")]
        [True, True, True, True, True, True, True, False, False]
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


class EgressPolicy:
    """Which internal targets are allowed: ``*`` (all), networks (CIDR) and host names.

    Examples:
        >>> EgressPolicy("").check_address("169.254.169.254")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vigil.egress.EgressRefusedError: The target 169.254.169.254 is an internal ...
        >>> EgressPolicy("127.0.0.0/8").check_address("127.0.0.1")
    """

    def __init__(self, allow: str | Iterable[str] = "") -> None:
        items = allow.split(",") if isinstance(allow, str) else list(allow)
        self.allow_all = False
        self.names: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for raw in items:
            item = raw.strip().lower().rstrip(".")
            if not item:
                continue
            if item == "*":
                self.allow_all = True
                continue
            try:
                self.networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                self.names.add(item)

    @classmethod
    def from_environment(cls) -> EgressPolicy:
        """The policy of ``VIGIL_ALLOW_PRIVATE_TARGETS`` (environment or vigil.toml); the
        strict default when the settings cannot be read."""
        from vigil.config import load_settings

        try:
            return cls(load_settings().allow_private_targets)
        except ConfigurationError:
            return cls("")

    def check_address(self, address: str | IPAddress, host: str | None = None) -> None:
        """Raise :class:`EgressRefusedError` unless ``address`` may be reached."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        if self.allow_all or not is_internal(ip):
            return
        if host is not None and host.lower().rstrip(".") in self.names:
            return
        plain = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
        if any(plain in net for net in self.networks):
            return
        shown = f"{host} ({ip})" if host and host != str(ip) else str(ip)
        raise EgressRefusedError(
            f"The target {shown} is an internal address (loopback, private, link-local or "
            f"reserved); the server does not reach those unless {SETTING} allows it, e.g. "
            f"{SETTING}=10.0.0.0/8.",
            details=[{"field": "url", "reason": f"{ip} is an internal address"}],
        )

    def resolve(self, url: str) -> list[IPAddress]:
        """The checked addresses of ``url``'s host (every one must be allowed)."""
        host = _host(url)
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            self.check_address(literal, host)
            return [literal]
        if self.allow_all or host in self.names:
            return []  # nothing to check: connect by name
        port = urlsplit(url).port or (443 if url.lower().startswith("https") else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise TargetUnresolvedError(
                f"The target host {host!r} does not resolve: {exc}.",
                details=[{"field": "url", "reason": "unresolvable"}],
            ) from None
        addresses = list(
            dict.fromkeys(ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos)
        )
        for ip in addresses:
            self.check_address(ip, host)
        return addresses

    def pin(self, url: str) -> PinnedRequest:
        """``url`` rewritten to its first checked address, keeping the name for the Host
        header and TLS (an unchanged URL when connecting by name is allowed)."""
        addresses = self.resolve(url)
        parts = urlsplit(url)
        host = _host(url)
        if not addresses or str(addresses[0]) == host:
            return PinnedRequest(url)
        ip = addresses[0]
        shown = f"[{ip}]" if ip.version == 6 else str(ip)
        netloc = shown + (f":{parts.port}" if parts.port else "")
        if parts.username or parts.password:
            netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
        header_host = parts.hostname or host
        if parts.port:
            header_host = f"{header_host}:{parts.port}"
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        return PinnedRequest(
            urlunsplit(parts._replace(netloc=netloc)), {"Host": header_host}, extensions
        )


def _host(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EgressRefusedError(
            f"Expected an absolute http(s) URL, got {url[:200]!r}.",
            details=[{"field": "url", "reason": "not an http(s) URL"}],
        )
    return parts.hostname.lower().rstrip(".")
