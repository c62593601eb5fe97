"""Read queries of the insight features (suggestions): dismissals from the audit log.

A dismissal is an audited action (``suggestion.dismiss`` on the model, the suggestion id
in its details), so no table of its own is needed and who dismissed what stays on record.
"""

from __future__ import annotations

import sqlalchemy as sa

from vigil.store import tables as t
from vigil.store.store import Store


def dismissed_suggestions(store: Store, model_name: str) -> set[str]:
    """Ids of the model's suggestions someone dismissed."""
    a = t.audit_log
    query = sa.select(a.c.details).where(
        a.c.action == "suggestion.dismiss", a.c.target == model_name
    )
    with store.read() as conn:
        rows = conn.execute(query).scalars().all()
    return {str(d["id"]) for d in rows if isinstance(d, dict) and d.get("id")}
