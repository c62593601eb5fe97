"""Store of the model registry: tables and queries of versions, aliases, policies."""
