"""Quality: realised and estimated metrics, CBPE reference, golden data sets, evaluation
runs and schedules, concept drift."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from starlette.concurrency import run_in_threadpool

import vigil.engine.quality.sources  # noqa: F401  (registers the quality metrics for rules)
from vigil.engine.ingest.payload import parse_json
from vigil.engine.quality import evaluation
from vigil.engine.quality import schedule as evaluation_schedule
from vigil.engine.quality.concept_drift import update_concept_drift
from vigil.engine.quality.jobs import QualityCollector, QualityJobs
from vigil.engine.quality.windows import MIN_ROWS, fit_reference, quality_report
from vigil.errors import InvalidParameterError
from vigil.io import read_frame
from vigil.server.auth import Principal, require
from vigil.server.body import json_body, raw_body
from vigil.server.errors import JsonResponse
from vigil.store.quality import queries as qs

router = APIRouter(prefix="/api/v1/models/{name}", tags=["quality"])
_PARQUET = ("application/vnd.apache.parquet", "application/octet-stream", "application/x-parquet")


def install(app: FastAPI) -> None:
    """Quality gauges on ``/metrics`` and the background loop (started by the lifespan)."""
    store = app.state.store
    app.state.metrics.registry.register(QualityCollector(store))
    app.state.quality_jobs = QualityJobs(store, leadership=app.state.leadership)


def _model(request: Request, name: str) -> Any:
    return request.app.state.ingestor.lookup_model(name)


@router.get("/quality")
async def model_quality(
    name: str,
    request: Request,
    start: float | None = Query(None, description="Unix seconds; default end - 24 h."),
    end: float | None = Query(None, description="Unix seconds; default now."),
    step: int | None = Query(None, description="Window seconds, a multiple of 60."),
    version: str | None = Query(None),
    segment: str | None = Query(
        None,
        description="Input field to split by (and compare "
        "for fairness), over the range and per window "
        "(segment_series).",
    ),
    min_rows: int = Query(
        MIN_ROWS, description="Windows/segments with fewer labelled rows are marked too_few_rows."
    ),
    k: int = Query(10, description="Cut-off of ranking metrics."),
    positive: str | None = Query(None, description="Favourable class for fairness."),
    _: Principal = Depends(require("read")),
) -> JsonResponse:
    """Realised quality per window, version and segment (labels joined by id), fairness
    across segments (also per window with a segment), CBPE estimates, feedback and
    concept-drift events."""

    def run() -> dict[str, Any]:
        fav: Any = positive
        if positive is not None and positive.lstrip("-").isdigit():
            fav = int(positive)
        return quality_report(
            request.app.state.store,
            _model(request, name),
            start=start,
            end=end,
            step=step,
            version=version,
            segment=segment,
            min_rows=min_rows,
            k=k,
            positive=fav,
        )

    return JsonResponse(await run_in_threadpool(run))


@router.post("/quality/reference")
async def fit_quality_reference(
    name: str, request: Request, who: Principal = Depends(require("write"))
) -> JsonResponse:
    """Fit the CBPE reference on labelled predictions with probabilities in
    ``{start?, end?, version?}``; later windows get estimated accuracy, F1 and ROC AUC."""
    raw = await raw_body(request)
    body = parse_json(raw)[0] if raw.strip() else {}
    if not isinstance(body, dict) or set(body) - {"start", "end", "version"}:
        raise InvalidParameterError(
            "The body must be an object with optional 'start', 'end' (unix seconds) and 'version'."
        )
    state = request.app.state

    def run() -> dict[str, Any]:
        out = fit_reference(
            state.store,
            _model(request, name),
            start=body.get("start"),
            end=body.get("end"),
            version=body.get("version"),
        )
        state.store.audit(who.actor, "quality.reference", name, {"n_rows": out["n_rows"]})
        return out

    return JsonResponse(await run_in_threadpool(run), status_code=201)


@router.post("/quality/concept-drift")
async def run_concept_drift(
    name: str, request: Request, _: Principal = Depends(require("write"))
) -> JsonResponse:
    """Feed newly joined labels to each version's detector now (the server also does it
    every few seconds); answer what was fed and detected."""
    state = request.app.state
    out = await run_in_threadpool(lambda: update_concept_drift(state.store, _model(request, name)))
    return JsonResponse({"model": name, "versions": out})


@router.get("/golden-datasets")
async def list_golden_datasets(
    name: str, request: Request, _: Principal = Depends(require("read"))
) -> JsonResponse:
    """The model's golden data sets: name, target, columns, rows, SHA-256, creation
    time."""
    state = request.app.state
    rows = await run_in_threadpool(lambda: qs.list_datasets(state.store, _model(request, name).id))
    return JsonResponse({"model": name, "datasets": rows})


@router.post("/golden-datasets", status_code=201)
async def register_golden_dataset(
    name: str,
    request: Request,
    dataset: str | None = Query(None, description="Name, for a Parquet body."),
    target: str | None = Query(None, description="Target column, for a Parquet body."),
    who: Principal = Depends(require("write")),
) -> JsonResponse:
    """Register a golden data set: JSON ``{name, target, records: [...]}`` or a Parquet
    body with ``?dataset=NAME&target=COLUMN``. A set of the same name is replaced."""
    import pandas as pd

    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in _PARQUET:
        frame = read_frame(await raw_body(request), "parquet")
        set_name, set_target = dataset, target
    else:
        body, _ = await json_body(request)
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("records"), list)
            or not body["records"]
            or not all(isinstance(r, dict) for r in body["records"])
        ):
            raise InvalidParameterError(
                'The body must be {"name", "target", "records": [objects]} or Parquet '
                "with ?dataset=&target=."
            )
        frame = pd.DataFrame.from_records(body["records"])
        set_name, set_target = body.get("name"), body.get("target")
    if not isinstance(set_target, str):
        raise InvalidParameterError(f"'target' must name the label column. Got {set_target!r}.")
    state = request.app.state

    def run() -> tuple[dict[str, Any], bool]:
        meta, created = evaluation.register_dataset(
            state.store,
            _model(request, name),
            set_name,  # type: ignore[arg-type]
            frame,
            set_target,
        )
        state.store.audit(
            who.actor,
            "quality.dataset",
            f"{name}/{set_name}",
            {"rows": meta["n_rows"], "sha256": meta["sha256"]},
        )
        return meta, created

    meta, created = await run_in_threadpool(run)
    return JsonResponse(meta, status_code=201 if created else 200)


@router.get("/evaluations")
async def list_evaluations(
    name: str,
    request: Request,
    dataset: str | None = Query(None),
    version: str | None = Query(None),
    limit: int = Query(100, ge=1, le=1000),
    _: Principal = Depends(require("read")),
) -> JsonResponse:
    """Evaluation runs, newest first, with their metrics and round-trip latency."""
    state = request.app.state
    runs = await run_in_threadpool(
        lambda: qs.list_runs(
            state.store, _model(request, name).id, dataset=dataset, version=version, limit=limit
        )
    )
    return JsonResponse({"model": name, "runs": runs})


@router.post("/evaluations", status_code=201)
async def run_evaluation(
    name: str, request: Request, who: Principal = Depends(require("write"))
) -> JsonResponse:
    """Evaluate now against the model's HTTP endpoint: ``{dataset, endpoint, version? |
    alias?}`` (without either, the version the ``production`` alias serves, else the
    newest). A failing endpoint gives a stored run with ``status: failed`` and the reason."""
    body, _ = await json_body(request)
    if not isinstance(body, dict) or set(body) - {"dataset", "endpoint", "version", "alias"}:
        raise InvalidParameterError(
            'The body must be {"dataset", "endpoint", "version"? or "alias"?}.'
        )
    dataset, endpoint = body.get("dataset"), body.get("endpoint")
    if not isinstance(dataset, str):
        raise InvalidParameterError(f"'dataset' must name a golden data set. Got {dataset!r}.")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        raise InvalidParameterError(f"'endpoint' must be an http(s) URL. Got {endpoint!r}.")
    version, alias = body.get("version"), body.get("alias")
    if version is not None and not isinstance(version, str):
        raise InvalidParameterError(f"'version' must be a string. Got {version!r}.")
    if alias is not None and not isinstance(alias, str):
        raise InvalidParameterError(f"'alias' must name a registry alias. Got {alias!r}.")
    state = request.app.state

    def run() -> dict[str, Any]:
        model = _model(request, name)
        resolved = evaluation_schedule.serving_version(
            state.store, model, {"version": version, "alias": alias}
        )
        out = evaluation.evaluate(state.store, model, dataset, version=resolved, endpoint=endpoint)
        state.store.audit(
            who.actor, "quality.evaluate", name, {"run": out["id"], "status": out["status"]}
        )
        return out

    return JsonResponse(await run_in_threadpool(run), status_code=201)


@router.get("/evaluation-schedules")
async def list_evaluation_schedules(
    name: str, request: Request, _: Principal = Depends(require("read"))
) -> JsonResponse:
    """The model's evaluation schedules, oldest first."""
    state = request.app.state
    rows = await run_in_threadpool(lambda: qs.list_schedules(state.store, _model(request, name).id))
    return JsonResponse({"model": name, "schedules": rows})


@router.post("/evaluation-schedules", status_code=201)
async def create_evaluation_schedule(
    name: str, request: Request, who: Principal = Depends(require("write"))
) -> JsonResponse:
    """Evaluate on a schedule: ``{dataset, endpoint, interval_s | cron, version? | alias?}``
    (cron: five fields, UTC; an alias is resolved when each run starts)."""
    body, _ = await json_body(request)
    state = request.app.state

    def run() -> dict[str, Any]:
        out = evaluation_schedule.create_schedule(state.store, _model(request, name), body)
        state.store.audit(who.actor, "quality.schedule", name, {"id": out["id"]})
        return out

    return JsonResponse(await run_in_threadpool(run), status_code=201)


@router.delete("/evaluation-schedules/{schedule_id}")
async def delete_evaluation_schedule(
    name: str, schedule_id: str, request: Request, who: Principal = Depends(require("write"))
) -> JsonResponse:
    """Stop an evaluation schedule (404 when the model has no such schedule);
    runs already made stay in the history; audited."""
    if not schedule_id.isdigit():
        raise InvalidParameterError(f"'schedule_id' must be an integer. Got {schedule_id!r}.")
    state = request.app.state

    def run() -> None:
        qs.delete_schedule(state.store, _model(request, name).id, int(schedule_id))
        state.store.audit(who.actor, "quality.schedule.delete", name, {"id": int(schedule_id)})

    await run_in_threadpool(run)
    return JsonResponse({"deleted": int(schedule_id)})
