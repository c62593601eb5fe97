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

from vigil.audit.pii import PIIDetector
from vigil.store import Store
from vigil.store.privacy.compliance import stored_at_rest

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


def scan_at_rest(
    store: Store, model_id: int, sample: int = SAMPLE_ROWS, detector: PIIDetector | None = None
) -> dict[str, Any]:
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

    store.fold_pending(model_id)  # what the aggregator will keep at rest is scanned too
    stored = stored_at_rest(store, model_id, sample)
    for inputs, outputs, error in stored["predictions"]:
        scan("predictions.inputs", _strings(_json(inputs)))
        scan("predictions.outputs", _strings(_json(outputs)))
        scan("predictions.error", _strings(error))
    for actual in stored["labels.actual"]:
        scan("labels.actual", _strings(_json(actual)))
    for comment in stored["feedback.comment"]:
        scan("feedback.comment", _strings(comment))
    for profile in stored["rollups.profile"]:
        if profile:  # serialised sketches: the strings they keep are readable bytes
            scan("rollups.profile", iter([bytes(profile).decode("utf-8", "replace")]))
    return {
        place: {"rows_scanned": scanned[place], "pii": dict(found[place])}
        for place in sorted(scanned)
    }
