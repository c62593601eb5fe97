"""Store reads of the insight features (suggestions)."""
