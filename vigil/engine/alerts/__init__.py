"""Alerting: rules, evaluation and lifecycle, routing, dispatch, actions, config as code."""
