"""Privacy: redaction policies at ingest, subject erasure, retention, administration."""
