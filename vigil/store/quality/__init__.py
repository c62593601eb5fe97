"""Store of the quality domain: tables and queries of labels, golden sets, evaluations."""
