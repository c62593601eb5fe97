"""Store of reference data sets: their table and the queries of drift's two sides."""
