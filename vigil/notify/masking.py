"""Hide secrets in notifier and action configurations before they are listed or audited.

Secrets hide in more places than keys named ``token``: the userinfo of a URL
(``https://user:pass@host``, a Sentry DSN's key), its query (``?token=...``,
``?sig=...``), its path (Slack's ``/services/T…/B…/<secret>``, Discord's
``/api/webhooks/<id>/<token>``), request headers (``Authorization``, ``X-Api-Key``) and
nested tables. :func:`mask_config` walks the whole value and replaces each with ``***``;
``env:NAME`` references are shown, being names rather than secrets.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

MASK = "***"
# configuration keys and header names whose values are secrets
_SECRET_NAME = re.compile(
    r"secret|token|password|passwd|pwd|dsn|routing_key|api[-_]?key|apikey|auth|credential|"
    r"cookie|session|signature|private|access[-_]?key",
    re.IGNORECASE,
)
# query parameters whose values are secrets (besides the names above)
_SECRET_PARAM = re.compile(r"^(key|sig|code|pass|p|k|s|x-amz-.*|x-goog-.*)$", re.IGNORECASE)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.IGNORECASE)
_LONG_SEGMENT = 16
_TOKEN_PREFIX = re.compile(r"^(xox[a-z]-|ghp_|gho_|glpat-|sk-|bot\d+:)\S{6,}", re.IGNORECASE)


def mask_config(value: Any, key: str | None = None) -> Any:
    """``value`` with every secret it holds replaced by ``"***"``.

    Examples:
        >>> mask_config({"url": "https://hooks.slack.com/services/T0AB12/B0CD34/"
        ...                     "xoxbS3cr3tV4lue9876543210", "channel": "#ops"})
        {'url': 'https://hooks.slack.com/services/T0AB12/B0CD34/***', 'channel': '#ops'}
        >>> mask_config({"url": "https://bob:hunter2@example.com/hook?token=abc&team=x",
        ...              "headers": {"Authorization": "Bearer abc", "X-Team": "ml"}})
        {'url': 'https://***@example.com/hook?token=***&team=x', 'headers': {'Authorization': 'Bearer ***', 'X-Team': 'ml'}}
        >>> mask_config({"secret": "env:HOOK_SECRET", "routing_key": "R0123"})
        {'secret': 'env:HOOK_SECRET', 'routing_key': '***'}
    """  # noqa: E501 - doctest output on one line
    if isinstance(value, dict):
        return {k: mask_config(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return _mask_list(list(value), key)
    if not isinstance(value, str):
        return MASK if key is not None and _SECRET_NAME.search(key) and value else value
    if value.startswith("env:"):
        return value
    if key is not None and _SECRET_NAME.search(key):
        return _mask_credential(value, key)
    return _URL.sub(lambda m: mask_url(m.group(0)), value)


def _mask_list(items: list[Any], key: str | None) -> list[Any]:
    """Each item masked; in a command line also the value after a secret flag
    (``--token abc``) and of ``--token=abc``."""
    out: list[Any] = []
    after_flag = False
    for item in items:
        if after_flag and isinstance(item, str):
            out.append(MASK)
        elif isinstance(item, str) and item.startswith("-") and "=" in item:
            flag, _, _value = item.partition("=")
            out.append(f"{flag}={MASK}" if _SECRET_NAME.search(flag) else mask_config(item))
        else:
            out.append(mask_config(item, key))
        after_flag = (
            isinstance(item, str)
            and item.startswith("-")
            and "=" not in item
            and bool(_SECRET_NAME.search(item))
        )
    return out


def _mask_credential(value: str, key: str) -> str:
    """A secret value; an Authorization header keeps its scheme, a URL its host."""
    if key.lower() in ("authorization", "proxy-authorization") and " " in value.strip():
        return value.strip().split(" ", 1)[0] + " " + MASK
    if _URL.fullmatch(value.strip()) and key.lower() != "dsn":
        return mask_url(value)
    return MASK


def mask_url(url: str) -> str:
    """The URL without userinfo, secret query values or secret-looking path segments.

    Examples:
        >>> mask_url("https://discord.com/api/webhooks/1234567/AbCdEf0123456789xyzXYZ")
        'https://discord.com/api/webhooks/1234567/***'
        >>> mask_url("https://api.example.com/v1/hooks/retrain?sig=0a1b2c&model=churn")
        'https://api.example.com/v1/hooks/retrain?sig=***&model=churn'
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed netloc
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    path = "/".join(MASK if _looks_secret(seg) else seg for seg in parts.path.split("/"))
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(
            f"{quote(k, safe='')}="
            + (
                MASK
                if _SECRET_NAME.search(k) or _SECRET_PARAM.match(k) or _looks_secret(v)
                else quote(v, safe="")
            )
            for k, v in pairs
        )
    fragment = MASK if parts.fragment and _looks_secret(parts.fragment) else parts.fragment
    return urlunsplit((parts.scheme, netloc, path, query, fragment))


def _looks_secret(segment: str) -> bool:
    """A long token mixing letters and digits (Slack, Discord, Teams webhook secrets),
    a long hex string, or a known token prefix."""
    if _TOKEN_PREFIX.match(segment):
        return True
    if len(segment) < _LONG_SEGMENT:
        return False
    has_digit = any(c.isdigit() for c in segment)
    has_alpha = any(c.isalpha() for c in segment)
    return (has_digit and has_alpha) or len(segment) >= 32
