"""vigil's engine: ingest, window rollups and (later) rules, alerts and scheduled jobs."""
