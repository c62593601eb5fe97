"""Scan what a model has stored for personal data: the data at rest, not the settings.

A compliance report that reads only configuration says "pass" while raw e-mail addresses
sit in the tables. :func:`scan_at_rest` reads a sample of the newest stored rows — the
predictions' inputs, outputs and error messages, label values, feedback comments — and
the rollups' serialised profiles (whose frequent-items sketches can hold raw strings),
runs the PII detectors over every string, and reports kinds and counts per place, never
the values. Names are found only where the text introduces them (see docs/security.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import sqlalchemy as sa

from vigil.audit.pii import PIIDetector
from vigil.store import Store
from vigil.store import tables as t

SAMPLE_ROWS = 1000

# PII kinds and the HIPAA Safe Harbor identifiers (45 CFR 164.514(b)(2)(i)) they are
SAFE_HARBOR = {
    "postal_code": "(B) geographic subdivisions smaller than a state",
    "date_of_birth": "(C) dates related to an individual",
    "phone": "(D) telephone numbers",
    "email": "(F) electronic mail addresses",
    "us_ssn": "(G) social security numbers",
    "credit_card": "(J) account numbers",
    "iban": "(J) account numbers",
    "url": "(N) web universal resource locators",
    "ip_address": "(O) internet protocol addresses",
    "street_address": "(B) geographic subdivisions smaller than a state",
    "person_name": "(A) names",
}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _json(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def scan_at_rest(store: Store, model_id: int, sample: int = SAMPLE_ROWS,
                 detector: PIIDetector | None = None) -> dict[str, Any]:
    """Per place (``predictions.inputs``, ``labels.actual``, ``rollups.profile``, ...):
    rows scanned and PII found by kind, over the ``sample`` newest rows of each."""
    detector = detector or PIIDetector()
    found: dict[str, Counter[str]] = {}
    scanned: dict[str, int] = {}

    def scan(place: str, texts: Iterator[str]) -> None:
        counts = found.setdefault(place, Counter())
        scanned[place] = scanned.get(place, 0) + 1
        for text in texts:
            for finding in detector.detect(text):
                counts[finding.kind] += 1

    p, lab, fb, r = t.predictions, t.labels, t.feedback, t.rollups
    mine = sa.select(p.c.id).where(p.c.model_id == model_id)
    store.fold_pending(model_id)  # what the aggregator will keep at rest is scanned too
    with store.read() as conn:
        rows = conn.execute(
            sa.select(sa.cast(p.c.inputs, sa.Text).label("inputs"),
                      sa.cast(p.c.outputs, sa.Text).label("outputs"), p.c.error)
            .where(p.c.model_id == model_id).order_by(p.c.ts.desc()).limit(sample)).all()
        for row in rows:
            scan("predictions.inputs", _strings(_json(row.inputs)))
            scan("predictions.outputs", _strings(_json(row.outputs)))
            scan("predictions.error", _strings(row.error))
        for row in conn.execute(sa.select(sa.cast(lab.c.actual, sa.Text).label("actual"))
                                .where(lab.c.model_id == model_id, lab.c.prediction_id.in_(mine))
                                .limit(sample)):
            scan("labels.actual", _strings(_json(row.actual)))
        for row in conn.execute(sa.select(fb.c.comment).where(fb.c.model_id == model_id)
                                .limit(sample)):
            scan("feedback.comment", _strings(row.comment))
        for row in conn.execute(sa.select(r.c.profile).where(r.c.model_id == model_id)
                                .order_by(r.c.minute.desc()).limit(sample)):
            if row.profile:  # serialised sketches: the strings they keep are readable bytes
                scan("rollups.profile", iter([bytes(row.profile).decode("utf-8", "replace")]))
    return {place: {"rows_scanned": scanned[place], "pii": dict(found[place])}
            for place in sorted(scanned)}
