"""The FastAPI app factory: everything the app needs is built here and passed down."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from vigil._version import __version__
from vigil.config import Settings, load_settings
from vigil.engine.genai.metrics import install_answer_gauges
from vigil.engine.ingest.ingestor import Ingestor
from vigil.engine.leader import JOBS, Leadership
from vigil.engine.privacy.policies import Redactor, RetentionJob
from vigil.engine.windows.aggregate import Aggregator, AggregatorCollector
from vigil.integrations.setup import start_exporters, stop_exporters
from vigil.server.auth import Authenticator
from vigil.server.errors import install_error_handlers
from vigil.server.guards import RequestGuard, SecurityHeaders
from vigil.server.prom import ServerMetrics
from vigil.server.ratelimit import RateLimitMiddleware
from vigil.server.routes import alerts as alert_routes
from vigil.server.routes import docs as docs_routes
from vigil.server.routes import drift, events, health, keys, metrics, models, otlp, registry
from vigil.server.routes import exports as export_routes
from vigil.server.routes import insight as insight_routes
from vigil.server.routes import privacy as privacy_routes
from vigil.server.routes import quality as quality_routes
from vigil.server.routes import resources as resource_routes
from vigil.server.routes import rules as rule_routes
from vigil.server.routes import ui as ui_routes
from vigil.store import Store, open_store


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy options: X-Forwarded-Proto/-For are believed only when
    VIGIL_TRUST_FORWARDED_PROTO says a TLS-terminating proxy is in front (uvicorn would
    otherwise believe them from any local process)."""
    trust = settings.trust_forwarded_proto
    return {"proxy_headers": trust, "forwarded_allow_ips": "*" if trust else None}


GC_YOUNG_THRESHOLD = 10_000
"""Net container allocations between young-generation collections in a server (Python's
default is 700)."""


def settle_process() -> None:
    """Settings for a long-lived server process, once its app is built (`vigil server`).

    - What is built by now lives as long as the server: frozen out of the collector's
      full passes, which otherwise walk it again and again under ingest (~3 µs/record).
    - The young generation is collected every :data:`GC_YOUNG_THRESHOLD` net allocations:
      a batch is thousands of live dicts at once, so the default walks it again every few
      dozen records and promotes it to the older generations (~1.3 µs/record in all);
      what a batch leaves is freed by reference counts, and cycles still go, a bit later.
    - One BLAS thread: the server's vectors are small (a minute's values), and idle
      OpenBLAS threads spin after each call, taking CPU from ingest (~3 µs/record).
    """
    from threadpoolctl import threadpool_limits

    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    threadpool_limits(1, user_api="blas")


class IngestThreads:
    """The worker threads of the predictions route: each request is one hand-off to them
    (decompress, parse, check, store), started on first use and stopped with the app.

    One thread on SQLite: the file takes one writer at a time, and a batch's Python work
    holds the GIL, so a second thread only adds GIL hand-offs (the driver lets go of it
    for every row it steps); requests queue for the thread instead. Two on PostgreSQL,
    where one batch's COPY runs in the database while the other thread parses the next.
    """

    def __init__(self, store: Store) -> None:
        self.size = 1 if store.backend == "sqlite" else 2
        self._pool: ThreadPoolExecutor | None = None

    def executor(self) -> ThreadPoolExecutor:
        """The pool (started now if need be; used from the event loop's thread only)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.size, thread_name_prefix="vigil-ingest")
        return self._pool

    def close(self) -> None:
        """Let the threads go once idle (a later request starts them again)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """Build the app. Opens (and migrates) the store from ``settings`` unless one is given;
    a store opened here is closed on shutdown."""
    settings = settings or load_settings()
    owned = store is None
    store = store or open_store(settings.db_url)
    prom = ServerMetrics()
    # one leader per job across replicas (the ingest role leads none and starts no jobs)
    worker = settings.role != "ingest"
    leadership = Leadership(store, JOBS if worker else (), ttl_s=settings.lease_ttl_s)
    retention = RetentionJob(store, settings.retention_interval_s, leadership=leadership)
    aggregator = Aggregator(store, settings.aggregate_interval_s)
    ingest_threads = IngestThreads(store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        aggregator.start()  # folds ingested batches into the rollups, off the request path
        exporters: list[Any] = []
        stop_registry_loop = None
        if worker:
            await asyncio.to_thread(leadership.start)
            if settings.retention_interval_s > 0:
                retention.start()
            stop_registry_loop = registry.start_policy_loop(app)
            app.state.rules.start()
            app.state.quality_jobs.start()
            # CloudWatch, OTLP: off until configured
            exporters = start_exporters(store, leadership=leadership)
        yield
        if worker:
            app.state.quality_jobs.stop()
            await app.state.rules.stop()
            await retention.stop()
            if stop_registry_loop is not None:
                await stop_registry_loop()
            stop_exporters(exporters)
            await asyncio.to_thread(leadership.stop)
        await aggregator.stop()
        ingest_threads.close()  # idle by now: uvicorn has answered every request
        if owned:
            store.close()

    app = FastAPI(
        title="vigil",
        version=__version__,
        lifespan=lifespan,
        description="Monitor and maintain machine-learning models in production.",
        docs_url=None,
        redoc_url=None,  # /docs is served with local assets (routes/docs.py)
    )
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = prom
    app.state.auth = Authenticator(store, settings.auth_required)
    app.state.redactor = Redactor(store)
    app.state.retention = retention
    app.state.leadership = leadership
    app.state.aggregator = aggregator
    app.state.ingest_threads = ingest_threads
    prom.registry.register(AggregatorCollector(aggregator))
    prom.watch_store(store)  # rule metrics, drift, last event, forecasts on /metrics
    app.state.ingestor = Ingestor(
        store,
        max_batch=settings.max_batch_records,
        max_field_chars=settings.max_field_bytes,
        on_predictions=prom.observe_predictions,
        redactor=app.state.redactor,
    )
    install_error_handlers(app)
    for module in (
        health,
        models,
        events,
        metrics,
        drift,
        keys,
        registry,
        rule_routes,
        alert_routes,
        privacy_routes,
        quality_routes,
        export_routes,
    ):
        app.include_router(module.router)
    app.include_router(resource_routes.router)  # resource samples and endpoint probes
    app.include_router(insight_routes.router)  # forecasts and root-cause ranking
    resource_routes.install(app)  # Server-Timing header, resource gauges on /metrics
    rule_routes.install(app)  # alert engine, notifiers, its background loop and gauges
    quality_routes.install(app)  # quality gauges, scheduled evaluations, concept drift
    otlp.install(app)  # POST /v1/traces: OpenTelemetry GenAI spans become predictions
    install_answer_gauges(app.state.metrics.registry, app.state.store)  # vigil_answers
    app.include_router(docs_routes.router)  # Swagger UI from the installed package, no CDN
    app.include_router(ui_routes.router)  # the dashboard: /, /ui/...
    ui_routes.install(app)  # its stylesheet and script under /ui/static
    if settings.rate_limit_per_minute:
        app.add_middleware(RateLimitMiddleware, per_minute=settings.rate_limit_per_minute)
    # outermost last: security headers on every answer, drive-by requests refused first
    app.add_middleware(RequestGuard, settings=settings)
    app.add_middleware(SecurityHeaders)
    return app
