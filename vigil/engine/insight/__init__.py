"""Insight: forecasts, anomalies, root-cause ranking and suggestions."""
