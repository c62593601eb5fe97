"""Audits: PII detection and masking, prompt-injection heuristics, OOD scoring, data scans,
robustness (prediction flip rate under small perturbations).

The compliance report lives in :mod:`vigil.audit.compliance` (it reads the store).
"""

from vigil.audit.injection import InjectionResult, score_injection
from vigil.audit.ood import OODResult, OODScorer
from vigil.audit.pii import KINDS, Finding, PIIDetector, detect_pii, redact_pii
from vigil.audit.robustness import flip_rate
from vigil.audit.scan import scan_data

__all__ = [
    "KINDS",
    "Finding",
    "InjectionResult",
    "OODResult",
    "OODScorer",
    "PIIDetector",
    "detect_pii",
    "flip_rate",
    "redact_pii",
    "scan_data",
    "score_injection",
]
