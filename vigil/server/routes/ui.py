"""The dashboard's pages, its sign-in form and its assets (Plotly from the installed package).

Pages are HTML: a missing key answers the sign-in form with 401, a key without the read
scope an explanation with 403, bad input a page with 400 or 404 — never a JSON error or a
500. Pages read the store through :mod:`vigil.server.dashboard.views` in a worker thread.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

import vigil.server.dashboard
from vigil._version import __version__
from vigil.errors import (
    AuthenticationError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    VigilError,
    http_status,
)
from vigil.server.auth import Principal
from vigil.server.dashboard import actions, session, views
from vigil.server.dashboard.charts import (
    RESOURCE_CHARTS,
    answers_chart,
    distribution_chart,
    drift_chart,
    drift_heatmap,
    model_charts,
    quality_chart,
    resource_charts,
    segment_charts,
)
from vigil.server.dashboard.render import render

router = APIRouter(tags=["dashboard"])

RangeQuery = Query(
    None,
    alias="range",
    description="15m, 1h, 6h, 24h, 7d or 30d (the overview: up to 24h); default 1h.",
)


def install(app: FastAPI) -> None:
    """Serve the dashboard's stylesheet and script under ``/ui/static``."""
    static = Path(vigil.server.dashboard.__file__).parent / "static"
    app.mount("/ui/static", StaticFiles(directory=static), name="ui-static")


@lru_cache(maxsize=1)
def _plotly() -> tuple[str, bytes, bytes, str]:
    """Plotly's bundle from the installed package: (version, plain, gzipped, ETag)."""
    import plotly
    from plotly.offline import get_plotlyjs

    body = get_plotlyjs().encode()
    return (
        plotly.__version__,
        body,
        gzip.compress(body, 6),
        '"' + hashlib.sha256(body).hexdigest()[:32] + '"',
    )


def plotly_url() -> str:
    from plotly import __version__ as plotly_version

    return f"/ui/assets/plotly-{plotly_version}.min.js"


@router.get("/ui/assets/plotly-{version}.min.js", include_in_schema=False)
async def plotly_js(version: str, request: Request) -> Response:
    """Plotly's JavaScript, cached for a year (the version is in the path)."""
    current, body, zipped, etag = await run_in_threadpool(_plotly)
    if version != current:
        raise NotFoundError(f"This server has Plotly {current}, not {version!r}.")
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": etag,
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        body = zipped
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with what every page needs; keep this browser's CSRF cookie."""
    token = session.csrf_token(request)
    signed_in = request.app.state.auth.required and session.SESSION_COOKIE in request.cookies
    html = render(
        template,
        version=__version__,
        csrf=token,
        signed_in=signed_in,
        base_url=str(request.base_url).rstrip("/"),
        **{"ranges": views.RANGE_LABELS, "notice": None, **context},
    )
    response = HTMLResponse(
        html,
        status_code=status,
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
        },
    )
    session.set_csrf_cookie(request, response, token)
    return response


def _next_path(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


def login_page(
    request: Request, message: str | None, status: int, next_path: str | None = None
) -> HTMLResponse:
    return page(
        request,
        "login.html",
        status,
        error=message,
        next=_safe_next(next_path or _next_path(request)),
    )


def _safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, host or protocol-relative URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def error_page(request: Request, exc: VigilError) -> HTMLResponse:
    status = http_status(exc)
    heading = {
        400: "Invalid request",
        403: "Not allowed",
        404: "Not found",
        409: "Changed meanwhile",
        413: "Too large",
        422: "Invalid request",
    }.get(status, "Something failed")
    return page(request, "error.html", status, heading=heading, message=exc.message)


async def viewer(request: Request, scope: str = "read") -> Principal | HTMLResponse:
    """The principal allowed to see a page, or the page to answer instead."""
    try:
        return await session.principal(request, scope)
    except AuthenticationError as exc:
        return login_page(request, None if "Sign in" in exc.message else exc.message, 401)
    except PermissionDeniedError as exc:
        return error_page(request, exc)


async def render_view(
    request: Request,
    template: str,
    build: Callable[[], dict[str, Any]],
    scope: str = "read",
    **extra: Any,
) -> HTMLResponse:
    """Authorise, compute the page's data in a worker thread, render it (errors as pages)."""
    who = await viewer(request, scope)
    if isinstance(who, HTMLResponse):
        return who
    try:
        context = await run_in_threadpool(build)
    except VigilError as exc:
        return error_page(request, exc)
    return page(request, template, principal=who, **context, **extra)


# -- pages ---------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse, summary="Dashboard: every model at a glance")
async def overview_page(request: Request, range_: str | None = RangeQuery) -> HTMLResponse:
    """The dashboard's overview: every model with its health, traffic, error rate
    and p95 latency over the chosen range."""
    store = request.app.state.store

    def build() -> dict[str, Any]:
        window = views.resolve_range(range_, allowed=views.OVERVIEW_RANGES)
        alerts = actions.alert_states_by_model(store)
        return {"window": window, "rows": views.overview(store, window, alerts)}

    ranges = {k: views.RANGE_LABELS[k] for k in views.OVERVIEW_RANGES}
    return await render_view(request, "overview.html", build, nav="overview", ranges=ranges)


@router.get(
    "/ui/models/{name}",
    response_class=HTMLResponse,
    summary="Dashboard: one model's traffic, latency and errors",
)
async def model_page(
    name: str,
    request: Request,
    range_: str | None = RangeQuery,
    version: str | None = Query(None, description="One version; empty for all."),
    segment: str | None = Query(
        None, description="A categorical input: quality and fairness per segment and window."
    ),
) -> HTMLResponse:
    """The dashboard's model page: traffic, latency, errors, quality, resources,
    aliases and versions."""
    store = request.app.state.store

    def build() -> dict[str, Any]:
        window = views.resolve_range(range_)
        model = views.get_model(store, name)
        split = views.check_segment(model, segment)
        alert = actions.alert_states_by_model(store).get(model.name)
        data = views.model_page(store, model, window, version or None, alert)
        quality = views.quality_section(store, model, window, version or None, split)
        charts = model_charts(data["series"], window.step)
        if (figure := quality_chart(quality)) is not None:
            charts["quality"] = figure
        if quality["segment"] is not None:
            charts.update(segment_charts(quality["segment"]))
        resources = views.resources_section(store, model, window, version or None)
        charts.update(
            {f"resource-{k}": fig for k, fig in resource_charts(resources["series"]).items()}
        )
        return {
            "window": window,
            "page": data,
            "charts": charts,
            "quality": quality,
            "resources": resources,
            "resource_charts": RESOURCE_CHARTS,
            "registry": actions.registry_section(store, home, model),
            "alerts": actions.model_alerts(store, model.name),
            "drift": views.drift_summary(store, model, window, version or None),
        }

    home = request.app.state.settings.home
    notice = _notice(request, "changed", "Alias {} changed.")
    return await render_view(request, "model.html", build, plotly_url=plotly_url(), notice=notice)


@router.get(
    "/ui/models/{name}/drift",
    response_class=HTMLResponse,
    summary="Dashboard: per-feature drift of a window against the reference",
)
async def drift_page(
    name: str,
    request: Request,
    range_: str | None = RangeQuery,
    version: str | None = Query(None, description="One version; empty for all."),
) -> HTMLResponse:
    """The dashboard's drift page: each feature's verdict, test, adjusted p-value and
    effect size against the reference."""
    store = request.app.state.store

    def build() -> dict[str, Any]:
        window = views.resolve_range(range_)
        model = views.get_model(store, name)
        data = views.drift_page(store, model, window, version or None)
        charts = {"drift": drift_chart(data["columns"])} if data.get("columns") else {}
        shown: list[dict[str, Any]] = []
        if data["reference"]:
            history = views.drift_over_time(store, model, window, version or None)
            if (heatmap := drift_heatmap(history)) is not None:
                charts["heatmap"] = heatmap
            # the features in the table's order (drifted first)
            order = {c["name"]: i for i, c in enumerate(data.get("columns") or [])}
            for feature in sorted(
                views.distributions(store, model, window, version or None),
                key=lambda f: order.get(f["name"], len(order)),
            ):
                if (figure := distribution_chart(feature)) is not None:
                    key = f"dist-{len(shown)}"
                    charts[key] = figure
                    shown.append({**feature, "chart": key})
        return {"window": window, "page": data, "charts": charts, "distributions": shown}

    return await render_view(request, "drift.html", build, plotly_url=plotly_url())


@router.get(
    "/ui/models/{name}/answers",
    response_class=HTMLResponse,
    summary="Dashboard: answer quality of a text model and its worst answers",
)
async def answers_page(
    name: str,
    request: Request,
    range_: str | None = RangeQuery,
    version: str | None = Query(None, description="One version; empty for all."),
) -> HTMLResponse:
    """The dashboard's Answers page: relevance, consistency, refusal and injection rates
    per window (stored scores) and the newest window's worst answers with their prompts
    (as stored: redacted per policy)."""
    from vigil.engine.genai.quality import (
        answer_report,
        answer_series,
        backend_status,
        score_range,
    )

    store = request.app.state.store

    def build() -> dict[str, Any]:
        window = views.resolve_range(range_)
        model = views.get_model(store, name)
        page_ = {
            "model": model,
            "version": version or None,
            "versions": [v["version"] for v in store.list_versions(model.id)],
        }
        if model.task != "text_generation":
            return {
                "window": window,
                "page": page_,
                "charts": {},
                "answers": None,
                "worst": None,
                "backend": None,  # asking would start loading the text model
            }
        # windows not reached by the job yet (none while the text model loads)
        score_range(store, model, window.start, window.end, wait=False)
        answers = answer_series(
            store, model, window.start, window.end, window.step, version or None
        )
        charts = {}
        if (figure := answers_chart(answers["series"])) is not None:
            charts["answers"] = figure
        worst = None
        if answers["series"]:  # the newest window with answers
            last = answers["series"][-1]["ts"]
            worst = answer_report(
                store,
                model,
                start=last,
                end=last + window.step,
                version=version or None,
                limit=500,
                worst=10,
                wait=False,
            )
        return {
            "window": window,
            "page": page_,
            "charts": charts,
            "answers": answers,
            "worst": worst,
            "backend": backend_status(),
        }

    return await render_view(request, "answers.html", build, plotly_url=plotly_url())


def _notice(request: Request, param: str, text: str) -> str | None:
    """A fixed confirmation sentence after a redirect (only the value is filled in)."""
    value = request.query_params.get(param)
    return text.format(value) if value else None


def _alert_id(text: str) -> int:
    if not text.isdigit():
        raise NotFoundError(f"No alert with id {text!r}.")
    return int(text)


# -- actions: promote and roll back, acknowledge and silence ----------------------------------
async def act(request: Request, do: Callable[[Principal, dict[str, str]], str]) -> Response:
    """Authorise (write scope), read the form, check its CSRF token, run ``do`` in a worker
    thread and redirect to the path it returns (errors as pages)."""
    who = await viewer(request, "write")
    if isinstance(who, HTMLResponse):
        return who
    try:
        form = await session.read_form(request)
        session.check_csrf(request, form)
        target = await run_in_threadpool(do, who, form)
    except VigilError as exc:
        return error_page(request, exc)
    return RedirectResponse(target, status_code=303)


@router.get(
    "/ui/models/{name}/aliases/{alias}/change",
    response_class=HTMLResponse,
    summary="Dashboard: confirm a promotion or rollback",
)
async def confirm_alias(
    name: str,
    alias: str,
    request: Request,
    action: str = Query("rollback", description="promote or rollback"),
    version: str | None = Query(
        None, description="Target version (rollback: default the previous one)."
    ),
) -> HTMLResponse:
    """The page that asks to confirm a promotion or a rollback before it is made."""
    store, home = request.app.state.store, request.app.state.settings.home

    def build() -> dict[str, Any]:
        return {
            "change": actions.confirm_alias_change(
                store, home, name, alias, action, version or None
            )
        }

    return await render_view(request, "confirm.html", build, scope="write")


@router.post(
    "/ui/models/{name}/aliases/{alias}/change",
    summary="Dashboard: promote or roll back an alias (form, after confirmation)",
)
async def change_alias(name: str, alias: str, request: Request) -> Response:
    """Promote or roll back an alias from the confirmation form (write scope, CSRF
    token); refused if the alias moved meanwhile."""
    state = request.app.state

    def do(who: Principal, form: dict[str, str]) -> str:
        revision = form.get("revision", "")
        if not revision.isdigit():
            raise InvalidParameterError("The form lacks the alias revision it confirmed.")
        actions.change_alias(
            state.store,
            state.settings.home,
            who.actor,
            name,
            alias,
            form.get("action", ""),
            form.get("version", ""),
            int(revision),
            form.get("reason", "").strip() or None,
        )
        return model_url(name, changed=alias)

    return await act(request, do)


@router.get("/ui/alerts", response_class=HTMLResponse, summary="Dashboard: alerts")
async def alerts_page(
    request: Request,
    state: str = Query("active", description="active, resolved or all"),
    model: str | None = Query(None),
) -> HTMLResponse:
    """The dashboard's alerts page: pending, firing or resolved alerts, with
    acknowledge and silence."""
    store = request.app.state.store

    def build() -> dict[str, Any]:
        return {
            "alerts": actions.alerts_page(store, state, model),
            "state": state,
            "model": model or "",
            "states": actions.ALERT_STATES,
        }

    notice = _notice(request, "acked", "Alert {} acknowledged.") or _notice(
        request, "silenced", "Alert {} silenced."
    )
    return await render_view(request, "alerts.html", build, nav="alerts", notice=notice)


@router.get(
    "/ui/alerts/{alert_id}",
    response_class=HTMLResponse,
    summary="Dashboard: one alert, its history and its likely causes",
)
async def alert_page(alert_id: str, request: Request) -> HTMLResponse:
    """The dashboard's page of one alert: its facts, its history and the root-cause
    ranking stored when it fired."""
    store = request.app.state.store

    def build() -> dict[str, Any]:
        return {"alert": actions.alert_view(store, _alert_id(alert_id))}

    return await render_view(request, "alert.html", build, nav="alerts")


@router.get(
    "/ui/audit",
    response_class=HTMLResponse,
    summary="Dashboard: the audit log (who did what, when; admin scope)",
)
async def audit_page(
    request: Request, action: str | None = Query(None, description="Only this action.")
) -> HTMLResponse:
    """The dashboard's audit log (admin scope): who did what, when."""
    store = request.app.state.store

    def build() -> dict[str, Any]:
        entries = store.audit_entries(500)
        if action:
            entries = [e for e in entries if e["action"] == action]
        return {"entries": entries, "action": action or ""}

    return await render_view(request, "audit.html", build, scope="admin", nav="audit")


@router.post("/ui/alerts/{alert_id}/ack", summary="Dashboard: acknowledge an alert (form)")
async def ack_alert(alert_id: str, request: Request) -> Response:
    """Acknowledge an alert from the dashboard's form (write scope, CSRF token)."""
    store = request.app.state.store

    def do(who: Principal, form: dict[str, str]) -> str:
        number = _alert_id(alert_id)
        actions.acknowledge(store, who.actor, number, form.get("comment", "").strip())
        return f"/ui/alerts?acked={number}"

    return await act(request, do)


@router.post("/ui/alerts/{alert_id}/silence", summary="Dashboard: silence an alert (form)")
async def silence_alert(alert_id: str, request: Request) -> Response:
    """Silence an alert's rule and labels from the dashboard's form (write scope,
    CSRF token)."""
    store = request.app.state.store

    def do(who: Principal, form: dict[str, str]) -> str:
        number = _alert_id(alert_id)
        actions.silence(store, who.actor, number, form.get("for", "1h"))
        return f"/ui/alerts?silenced={number}"

    return await act(request, do)


# -- signing in and out --------------------------------------------------------------------
@router.get("/ui/login", response_class=HTMLResponse, include_in_schema=False)
async def login_form(request: Request, next_: str | None = Query(None, alias="next")) -> Response:
    """The sign-in page that asks for an API key."""
    if not request.app.state.auth.required:
        return RedirectResponse(_safe_next(next_), status_code=303)
    return login_page(request, None, 200, next_ or "/")


@router.post("/ui/login", response_class=HTMLResponse, include_in_schema=False)
async def login(request: Request) -> Response:
    """Check the key from the form; start a server-side session (the cookie holds only
    its opaque id); go where asked."""
    try:
        form = await session.read_form(request)
        session.check_csrf(request, form)
    except VigilError as exc:
        return error_page(request, exc)
    target = _safe_next(form.get("next"))
    if not request.app.state.auth.required:
        return RedirectResponse(target, status_code=303)
    secret = form.get("key", "").strip()
    if not secret:
        return login_page(request, "Enter an API key.", 401, target)
    try:
        who = await request.app.state.auth.principal(
            SimpleNamespace(headers={"authorization": f"Bearer {secret}"})
        )
    except AuthenticationError:
        return login_page(request, "That API key is unknown or revoked.", 401, target)
    if not who.has("read"):
        return login_page(
            request,
            "That key cannot read dashboards: it has the "
            f"{', '.join(sorted(who.scopes))} scope. Use a read, write or "
            "admin key.",
            403,
            target,
        )
    response = RedirectResponse(target, status_code=303)
    await session.start_session(request, response, who.key_id)
    return response


@router.post("/ui/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    """End the server-side session and clear its cookie."""
    try:
        session.check_csrf(request, await session.read_form(request))
    except VigilError as exc:
        return error_page(request, exc)
    response = RedirectResponse("/ui/login", status_code=303)
    await session.end_session(request, response)
    return response


def model_url(name: str, **query: str) -> str:
    """The model page's path (name quoted), with an optional query."""
    args = "&".join(f"{k}={quote(v)}" for k, v in query.items() if v)
    return f"/ui/models/{quote(name, safe='')}" + (f"?{args}" if args else "")
