"""Integrations with the tools teams already run; each is off until configured.

Settings live in :mod:`.config` (``VIGIL_*`` or ``[integrations.<name>]`` in vigil.toml);
:mod:`.setup` turns them into running integrations; ``vigil integrations status``
(:mod:`.cli`) shows them.

* Server side, publishing window metrics from the store (:mod:`.windows`):
  :mod:`.cloudwatch` (PutMetricData) and :mod:`.otlp` (OpenTelemetry OTLP/HTTP).
* SDK side, record sinks fed by a Monitor's background thread (:mod:`.base`):
  :mod:`.emf` (CloudWatch Embedded Metric Format lines), :mod:`.ecs` (Elastic Common
  Schema logs), :mod:`.elasticsearch` (``_bulk`` sink), :mod:`.loki` (Grafana Loki push)
  and :mod:`.sentry` (exceptions of tracked predictions).
* Experiment trackers (:mod:`.tracking`): :mod:`.wandb` and :mod:`.mlflow`.

Third-party libraries are imported only when an integration is used.
"""
