"""Store of the alerting domain: tables and queries of rules, notifiers, alerts, silences."""
