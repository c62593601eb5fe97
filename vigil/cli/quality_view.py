"""Realised and estimated accuracy for live views (``vigil demo``): one call per refresh.

``QualityView(client, model).rows(start)`` fits the CBPE reference once enough labelled
predictions exist, then returns table rows with the realised accuracy (labelled
predictions), the estimated one (no labels needed) and the newest windows of both.
"""

from __future__ import annotations

from typing import Any


class QualityView:
    """Polls ``/quality`` of one model through an ``httpx.Client`` of the server."""

    def __init__(self, client: Any, model: str, *, reference_rows: int = 500) -> None:
        self.client = client
        self.model = model
        self.reference_rows = reference_rows
        self.fitted = False

    def rows(self, start: float, step: int = 60) -> list[tuple[str, str]]:
        """Table rows ``(metric, value)``; best effort (empty when the server is busy)."""
        path = f"/api/v1/models/{self.model}/quality"
        try:
            q = self.client.get(path, params={"start": start, "step": step}).json()
            if not self.fitted and q.get("labels", {}).get("used", 0) >= self.reference_rows:
                r = self.client.post(f"{path}/reference", json={"start": start})
                self.fitted = r.status_code == 201
        except Exception:  # a live view must not stop the demo; the next refresh retries
            return []
        out = []
        realised = (q.get("realised") or {}).get("accuracy")
        if realised is not None:
            out.append(("accuracy, realised (labelled)",
                        f"{realised:.3f} ({q['labels']['used']} labels)"))
        summary = ((q.get("estimated") or {}).get("summary") or {}).get("accuracy")
        if summary:
            out.append(("accuracy, estimated (CBPE)",
                        f"{summary['value']:.3f} [{summary['lower']:.3f}, {summary['upper']:.3f}]"))
        series = [w for w in q.get("series", []) if w.get("accuracy") is not None][-5:]
        if series:
            out.append(("realised per minute", " ".join(f"{w['accuracy']:.2f}" for w in series)))
        est = ((q.get("estimated") or {}).get("series") or [])[-5:]
        if est:
            out.append(("estimated per minute",
                        " ".join(f"{w['accuracy']['value']:.2f}" for w in est)))
        return out
