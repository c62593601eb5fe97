"""Store of privacy and compliance: redaction policies, retention, erasure receipts."""
