"""Scan a data set for PII, prompt injection and (against a reference) OOD rows.

Only counts, kinds and row numbers are reported, never the values found.
"""

from __future__ import annotations

from typing import Any

from vigil.audit.injection import score_injection
from vigil.audit.ood import OODScorer, _records
from vigil.audit.pii import PIIDetector

MAX_ROWS_LISTED = 20


def scan_data(
    data: Any, reference: Any | None = None, detector: PIIDetector | None = None
) -> dict[str, Any]:
    """Per text column: PII findings by kind and injection-flagged rows; with a
    ``reference``: how many rows are out of distribution.

    Examples:
        >>> out = scan_data([{"note": "mail a@b.io"}, {"note": "hello"}])
        >>> out["columns"]["note"]["pii"], out["columns"]["note"]["pii_rows"]
        ({'email': 1}, [0])
    """
    detector = detector or PIIDetector()
    rows = _records(data)
    columns: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        for name, value in row.items():
            if not isinstance(value, str):
                continue
            col = columns.setdefault(name, {"pii": {}, "pii_rows": [], "injection_rows": []})
            findings = detector.detect(value)
            for f in findings:
                col["pii"][f.kind] = col["pii"].get(f.kind, 0) + 1
            if findings and len(col["pii_rows"]) < MAX_ROWS_LISTED:
                col["pii_rows"].append(i)
            if score_injection(value).flagged and len(col["injection_rows"]) < MAX_ROWS_LISTED:
                col["injection_rows"].append(i)
    out: dict[str, Any] = {"rows": len(rows), "columns": columns}
    if reference is not None:
        results = OODScorer().fit(reference).score(rows)
        flagged = [i for i, r in enumerate(results) if r.is_ood]
        out["ood"] = {
            "flagged": len(flagged),
            "rate": len(flagged) / max(len(rows), 1),
            "rows": flagged[:MAX_ROWS_LISTED],
        }
    return out
