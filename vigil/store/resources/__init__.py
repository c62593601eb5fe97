"""Store of resource samples and endpoint probes: tables and queries."""
