"""Turn integration settings into running integrations: SDK sinks and server exporters.

``instrument(monitor)`` attaches every SDK-side integration the settings switch on;
``start_exporters(store)`` starts the server-side ones (the server calls it in its
lifespan and stops the result on shutdown). A misconfigured or unavailable integration
(its extra not installed) is logged and skipped: it never stops predictions or the server.

Examples:
    >>> from vigil.integrations.config import IntegrationSettings
    >>> from vigil.sdk import MemoryTransport, Monitor
    >>> mon = Monitor("m", transport=MemoryTransport())
    >>> instrument(mon, IntegrationSettings())   # nothing configured: nothing attached
    []
    >>> mon.close()
    True
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from vigil.integrations.config import IntegrationSettings, load_integration_settings

log = logging.getLogger("vigil.integrations")


def sinks_from_settings(settings: IntegrationSettings) -> list[Any]:
    """The SDK-side sinks the settings switch on (EMF, ECS, Elasticsearch, Loki, Sentry)."""
    s = settings
    makers: list[tuple[str, Any]] = []
    if s.emf_namespace:
        from vigil.integrations.emf import EmfSink

        makers.append(("emf", lambda: EmfSink(s.emf_namespace, s.emf_path)))
    if s.ecs_log_path:
        from vigil.integrations.ecs import EcsLogSink

        makers.append(("ecs", lambda: EcsLogSink(s.ecs_log_path, service=s.ecs_service_name)))
    if s.elasticsearch_url:
        from vigil.integrations.elasticsearch import ElasticsearchSink

        makers.append(
            (
                "elasticsearch",
                lambda: ElasticsearchSink(
                    s.elasticsearch_url,
                    index=s.elasticsearch_index,
                    api_key=s.elasticsearch_api_key,
                    service=s.ecs_service_name,
                    timeout_s=s.sink_timeout_s,
                ),
            )
        )
    if s.loki_url:
        from vigil.integrations.loki import LokiSink

        makers.append(
            (
                "loki",
                lambda: LokiSink(
                    s.loki_url,
                    tenant=s.loki_tenant,
                    service=s.ecs_service_name,
                    timeout_s=s.sink_timeout_s,
                ),
            )
        )
    if s.sentry_dsn:
        from vigil.integrations.sentry import SentryReporter

        makers.append(
            (
                "sentry",
                lambda: SentryReporter(
                    s.sentry_dsn, environment=s.sentry_environment, send_inputs=s.sentry_send_inputs
                ),
            )
        )
    sinks = []
    for name, make in makers:
        try:
            sinks.append(make())
        except Exception as exc:  # a missing extra or a bad value: say so, keep going
            log.error("vigil: the %s integration is off: %s", name, exc)
    return sinks


def instrument(monitor: Any, settings: IntegrationSettings | None = None) -> list[Any]:
    """Attach the configured SDK-side integrations to ``monitor``; return the sinks."""
    sinks = sinks_from_settings(settings or load_integration_settings())
    for sink in sinks:
        monitor.add_sink(sink)
    return sinks


def start_exporters(
    store: Any, settings: IntegrationSettings | None = None, leadership: Any = None
) -> list[Any]:
    """Start the configured server-side exporters (CloudWatch, OTLP); return their loops.

    Each exporter gets its own :class:`~vigil.integrations.windows.ExportLoop` thread; stop
    them with :func:`stop_exporters`. Also switches the server's logs to ECS JSON when
    ``VIGIL_ECS_SERVER_LOGS`` is on.
    """
    from vigil.integrations.windows import ExportLoop

    try:
        s = settings or load_integration_settings()
    except Exception as exc:  # the server still starts; the error says what to fix
        log.error("vigil: integrations are off: %s", exc)
        return []
    if s.ecs_server_logs:
        try:
            from vigil.integrations.ecs import configure_ecs_logging

            configure_ecs_logging(s.ecs_service_name)
        except Exception as exc:
            log.error("vigil: ECS server logs are off: %s", exc)

    def cloudwatch() -> Any:
        from vigil.integrations.cloudwatch import CloudWatchExporter

        return CloudWatchExporter(
            str(s.cloudwatch_namespace),  # set: see `wanted` below
            region=s.cloudwatch_region,
            endpoint_url=s.cloudwatch_endpoint_url,
            dimensions=s.cloudwatch_dimensions,
        )

    def otlp() -> Any:
        from vigil.integrations.otlp import OtlpExporter

        return OtlpExporter(
            str(s.otlp_endpoint),
            headers=s.otlp_headers,
            encoding=s.otlp_encoding,
            service=s.ecs_service_name,
        )

    wanted: list[tuple[str, Callable[[], Any], float]] = []
    if s.cloudwatch_namespace:
        wanted.append(("CloudWatch", cloudwatch, s.cloudwatch_interval_s))
    if s.otlp_endpoint:
        wanted.append(("OTLP", otlp, s.otlp_interval_s))
    loops = []
    for name, make, interval_s in wanted:
        try:
            loops.append(
                ExportLoop(
                    store,
                    [make()],
                    interval_s=interval_s,
                    lag_s=s.export_lag_s,
                    backfill_s=s.export_backfill_s,
                    leadership=leadership,
                )
            )
        except Exception as exc:
            log.error("vigil: the %s integration is off: %s", name, exc)
    for loop in loops:
        loop.start()
        log.info(
            "vigil: publishing window metrics to %s every %.0f s",
            loop.exporters[0].name,
            loop.interval_s,
        )
    return loops


def stop_exporters(loops: list[Any]) -> None:
    """Stop what :func:`start_exporters` started."""
    for loop in loops:
        loop.stop()
