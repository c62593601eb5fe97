"""vigil's HTTP server: FastAPI app factory, one router per resource, auth, /metrics."""
