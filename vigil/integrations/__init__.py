"""Integrations with the tools teams already run; each is off until configured.

Server side (publish window metrics from the store, see :mod:`.windows`):
:mod:`.cloudwatch` (PutMetricData) and :mod:`.otlp` (OpenTelemetry OTLP/HTTP).
SDK side (record sinks fed by a Monitor's background thread, see :mod:`.base`):
:mod:`.emf` (CloudWatch Embedded Metric Format lines), :mod:`.ecs` (Elastic Common Schema
logs), :mod:`.elasticsearch` (``_bulk`` sink), :mod:`.loki` (Grafana Loki push) and
:mod:`.sentry` (exceptions of tracked predictions). Experiment trackers:
:mod:`.wandb` and :mod:`.mlflow`. Third-party libraries are imported only when used.
"""
