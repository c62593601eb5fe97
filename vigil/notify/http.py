"""POST a body to a receiver; classify failures as retryable (429, 5xx, network) or not."""

from __future__ import annotations

from typing import Any

import httpx

from vigil.notify.base import NotifyError, RetryableNotifyError


def post(url: str, content: bytes, headers: dict[str, str], timeout_s: float,
         what: str) -> httpx.Response:
    """POST ``content``; 2xx returns the response, anything else raises a NotifyError."""
    try:
        response = httpx.post(url, content=content, headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise RetryableNotifyError(f"{what}: {type(exc).__name__}: {exc}") from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    text = response.text[:200]
    if status == 429 or status >= 500:
        raise RetryableNotifyError(f"{what}: HTTP {status} {text}",
                                   retry_after_s=_retry_after(response.headers))
    raise NotifyError(f"{what}: HTTP {status} {text}")


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
