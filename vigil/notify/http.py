"""POST a body to a receiver; classify failures as retryable (429, 5xx, network) or not.

Receivers on internal addresses (loopback, private, link-local) are refused unless
``VIGIL_ALLOW_PRIVATE_TARGETS`` allows them (see :mod:`vigil.egress`).
"""

from __future__ import annotations

from typing import Any

import httpx

from vigil.egress import EgressPolicy, EgressRefusedError, TargetUnresolvedError
from vigil.notify.base import NotifyError, RetryableNotifyError


def post(
    url: str,
    content: bytes,
    headers: dict[str, str],
    timeout_s: float,
    what: str,
    egress: EgressPolicy | None = None,
) -> httpx.Response:
    """POST ``content``; 2xx returns the response, anything else raises a NotifyError.
    ``egress`` defaults to the policy of the environment and vigil.toml."""
    try:
        target = (egress or EgressPolicy.from_environment()).pin(url)
    except TargetUnresolvedError as exc:  # DNS may answer on the next attempt
        raise RetryableNotifyError(f"{what}: {exc.message}") from None
    except EgressRefusedError as exc:
        raise NotifyError(f"{what}: {exc.message}") from None
    try:
        with httpx.Client(timeout=timeout_s) as client:
            response = client.post(
                target.url,
                content=content,
                headers={**headers, **target.headers},
                extensions=target.extensions,
            )
    except httpx.HTTPError as exc:
        raise RetryableNotifyError(f"{what}: {type(exc).__name__}: {exc}") from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    text = response.text[:200]
    if status == 429 or status >= 500:
        raise RetryableNotifyError(
            f"{what}: HTTP {status} {text}", retry_after_s=_retry_after(response.headers)
        )
    raise NotifyError(f"{what}: HTTP {status} {text}")


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
