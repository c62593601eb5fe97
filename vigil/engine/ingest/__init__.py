"""Ingest: request bodies, per-field validation, idempotent appends, input scores."""
