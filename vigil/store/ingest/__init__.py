"""Store side of ingest: schema history and rejections, minute rollups, the aggregator's writes."""
