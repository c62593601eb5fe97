"""vigil's engine: one subpackage per domain (ingest, windows, alerts, exports, quality,
resources, privacy, genai, insight) over the store; see ARCHITECTURE.md."""
