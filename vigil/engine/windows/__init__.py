"""Window metrics from minute rollups: the aggregator loop, traffic and latency, drift."""
