"""When each model version last had traffic, by event time, as the rollups record it.

The no-data rule counts a model's predictions per stored minute (``rollups.minute``); the
newest minute holding predictions is what a Prometheus gauge needs to judge silence the
same way (see :mod:`vigil.server.prom`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from vigil.store import tables as t

if TYPE_CHECKING:
    from vigil.store import Store


def last_event_minutes(store: Store, model_id: int, before: float) -> dict[str, int]:
    """``{version: start of its newest rollup minute before ``before``}`` (unix seconds).

    One index seek per version (the rollups' key is model, version, minute), so it stays
    cheap however long the history is; versions without stored traffic are left out.
    Pending ingest batches are not folded here: callers fold first when they must be
    current.
    """
    r = t.rollups
    with store.read() as conn:
        versions = (
            conn.execute(
                sa.select(t.model_versions.c.version).where(t.model_versions.c.model_id == model_id)
            )
            .scalars()
            .all()
        )
        out = {}
        for version in versions:
            minute = conn.execute(
                sa.select(sa.func.max(r.c.minute)).where(
                    r.c.model_id == model_id,
                    r.c.version == version,
                    r.c.minute < before,
                    r.c.count > 0,
                )
            ).scalar()
            if minute is not None:
                out[version] = int(minute)
    return out
