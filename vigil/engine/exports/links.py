"""Expiring download links for exported data sets (what a retrain webhook receives).

A link names one file under ``VIGIL_HOME/exports`` and carries its expiry and an
HMAC-SHA256 signature made with a key kept in ``VIGIL_HOME/keys/exports.key`` (32 random
bytes, made on first use, readable by its owner only). Anyone holding an unexpired link
can download that file and nothing else, like a pre-signed object-store URL; the server
checks the signature in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from pathlib import Path
from urllib.parse import quote

from vigil.errors import AuthenticationError, InvalidParameterError
from vigil.keyfiles import create_once

EXPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,250}\.parquet$")


def exports_dir(home: Path) -> Path:
    return Path(home) / "exports"


def _key(home: Path) -> bytes:
    return create_once(Path(home) / "keys" / "exports.key", secrets.token_bytes(32))


def _signature(home: Path, name: str, expires: int) -> str:
    message = f"{name}\n{expires}".encode()
    return hmac.new(_key(home), message, hashlib.sha256).hexdigest()


def sign(
    home: Path, base_url: str, name: str, ttl_s: float, now: float | None = None
) -> tuple[str, int]:
    """The download URL of export ``name`` valid for ``ttl_s`` seconds, and its expiry."""
    check_name(name)
    expires = int((time.time() if now is None else now) + ttl_s)
    url = (
        f"{base_url.rstrip('/')}/api/v1/exports/{quote(name)}"
        f"?expires={expires}&signature={_signature(home, name, expires)}"
    )
    return url, expires


def verify(home: Path, name: str, expires: str, signature: str, now: float | None = None) -> Path:
    """The file a link names, or :class:`AuthenticationError` when the link is forged or
    expired (the same answer for both, so a prober learns nothing)."""
    check_name(name)
    if not expires.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", signature):
        raise AuthenticationError("The download link is invalid or has expired.")
    good = hmac.compare_digest(_signature(home, name, int(expires)), signature)
    if not good or int(expires) < (time.time() if now is None else now):
        raise AuthenticationError("The download link is invalid or has expired.")
    return exports_dir(home) / name


def check_name(name: str) -> str:
    if not EXPORT_NAME.match(name):
        raise InvalidParameterError(f"{name!r} is not the name of an exported data set.")
    return name
