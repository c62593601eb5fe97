"""Registry routes: versions, comparison, verification, aliases with history and policies.

``GET /models/{m}/versions`` (the list) lives in :mod:`vigil.server.routes.models`; the
rest of the registry is here. Aliases carry an ETag (``"<revision>:<version>"``): a GET
with ``If-None-Match`` answers 304 while the alias has not moved (the SDK polls this way)
and a PUT with ``If-Match`` (or ``expected_revision``) answers 409 when it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from vigil.errors import InvalidParameterError
from vigil.registry import (
    Registry,
    canary,
    check_canaries,
    check_rollback_policies,
    set_rollback_policy,
    upload,
)
from vigil.registry.registry import check_alias
from vigil.server.auth import Principal, require
from vigil.server.body import require_media_type
from vigil.server.errors import JsonResponse
from vigil.store.registry import queries as q

router = APIRouter(prefix="/api/v1", tags=["registry"])
ARTIFACT_TYPES = ("application/octet-stream", "application/x-tar")
log = logging.getLogger("vigil.server")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionRequest(_Body):
    """A new version of a model: its name and what is known about it (framework,
    metadata, notes, offline metrics, tags, lineage)."""

    version: str = Field(min_length=1, max_length=100)
    framework: str | None = Field(None, max_length=100)
    metadata: dict[str, Any] | None = None
    notes: str | None = None
    metrics: dict[str, float] | None = None
    tags: dict[str, str] | None = None
    lineage: dict[str, Any] | None = None


class EditRequest(_Body):
    """Changes to a version's notes and tags; each is kept in the version's history."""

    notes: str | None = Field(None, description="New notes (replace the old).")
    tags: dict[str, str] | None = Field(None, description="Tags to set (add or replace).")
    untag: list[str] = Field(default_factory=list, description="Tags to remove.")
    reason: str | None = Field(None, max_length=2000)


class StatusRequest(_Body):
    """Why a version is archived, deprecated or restored (kept in its history)."""

    reason: str | None = Field(None, max_length=2000)


class AliasRequest(_Body):
    """Point an alias at a version (or make it follow another alias); the expected
    revision or version makes the change fail if someone moved the alias meanwhile."""

    version: str | None = Field(None, max_length=100)
    follow: str | None = Field(None, max_length=100, description="Alias to follow instead.")
    reason: str | None = None
    expected_revision: int | None = None
    expected_version: str | None = None


class RollbackRequest(_Body):
    """Roll an alias back to an earlier version (default: the previous one)."""

    to: str | None = Field(
        default=None, max_length=100, description="Default: the previous version."
    )
    reason: str | None = None
    expected_revision: int | None = None


class PolicyRequest(_Body):
    """An automatic rollback policy: how long to watch a new version, over which
    window, from how many predictions, and the metric bounds that trigger a rollback."""

    watch_s: float | None = None
    window_s: float | None = None
    min_count: int | None = None
    max: dict[str, float] | None = None
    min: dict[str, float] | None = None
    notify: list[str] | None = Field(None, description="Notifiers told of a rollback.")


class CanaryRequest(_Body):
    """Start a canary (or shadow) release of a version: its traffic share, the
    metrics compared with the serving version and the sequential test's error bound."""

    version: str = Field(min_length=1, max_length=100)
    share: float | None = Field(None, description="Share of the traffic, in (0, 1].")
    mode: str | None = Field(None, description="'canary' (default) or 'shadow'.")
    alpha: float | None = Field(None, description="Each wrong decision's probability bound.")
    tolerance: float | dict[str, float] | None = None
    metrics: list[str] | None = None
    min_count: int | None = None
    max_duration_s: float | None = None
    on_timeout: str | None = None
    latency_threshold_s: float | None = None
    notify: list[str] | None = None
    resolve_after_s: float | None = None
    reason: str | None = None
    expected_revision: int | None = None


def _registry(request: Request, who: Principal) -> Registry:
    state = request.app.state
    settings = state.settings
    passphrase = settings.signing_key_passphrase
    return Registry(
        state.store,
        settings.home,
        actor=who.actor,
        signing_key=settings.signing_key,
        trusted_keys=settings.trusted_keys,
        passphrase=passphrase.get_secret_value() if passphrase else None,
    )


def etag(alias: dict[str, Any]) -> str:
    """The alias's ETag: revision and resolved version."""
    return f'"{alias["revision"]}:{alias["resolved_version"]}"'


def _if_match(request: Request) -> int | None:
    value = request.headers.get("if-match")
    if not value:
        return None
    rev = value.strip().removeprefix("W/").strip('"').split(":", 1)[0]
    if not rev.isdigit():
        raise InvalidParameterError(f"If-Match must be an alias ETag. Got {value!r}.")
    return int(rev)


@router.post("/models/{name}/versions", status_code=201)
async def register_version(
    name: str,
    body: VersionRequest,
    request: Request,
    who: Principal = Depends(require("write")),
) -> JsonResponse:
    """Register a version without artifact (artifacts are registered with the CLI or
    Python API on the server's data folder, where they are hashed and signed)."""
    reg = _registry(request, who)
    fields = body.model_dump(exclude={"version"})
    row = await run_in_threadpool(reg.register, name, body.version, **fields)
    return JsonResponse({"model": name, **row}, status_code=201)


@router.post("/models/{name}/versions/{version}/artifact", status_code=201)
async def upload_version(
    name: str,
    version: str,
    request: Request,
    filename: str = Query(..., max_length=200),
    framework: str | None = Query(None, max_length=100),
    notes: str | None = None,
    allow: list[str] = Query(
        [], description="Import to accept although it is dangerous (module.name); repeat."
    ),
    allow_unparsed: bool = Query(False, description="Accept pickles the scanner cannot parse."),
    who: Principal = Depends(require("write")),
) -> JsonResponse:
    """Register ``version`` with the artifact in the body, streamed to disk: one file
    (``application/octet-stream``, stored as ``filename``) or a directory as a tar archive
    (``application/x-tar``, optionally gzip/bzip2/xz-compressed; unpacked safely: no links,
    no paths leaving it, bounded in size, members, expansion and time). Pickles are
    scanned as at load: one importing dangerous code is refused with 409 unless
    ``allow`` names the import (``allow_unparsed`` for unscannable ones)."""
    kind = require_media_type(request, ARTIFACT_TYPES)
    reg = _registry(request, who)
    upload.check_filename(filename)
    limits = upload.UploadLimits.from_settings(request.app.state.settings)
    deadline = limits.deadline()
    tmp = reg.home / "artifacts" / "tmp"
    await run_in_threadpool(tmp.mkdir, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp) as work:
        body = Path(work) / "upload"
        await upload.receive(request.stream(), body, limits, deadline)
        target = Path(work) / "artifact" / filename
        if kind == "application/x-tar":
            await run_in_threadpool(upload.unpack, body, target, limits, deadline)
        else:
            target.parent.mkdir(parents=True)
            body.rename(target)
        row = await run_in_threadpool(
            lambda: reg.register(
                name,
                version,
                target,
                framework=framework,
                notes=notes,
                allow=allow,
                allow_unparsed=allow_unparsed,
            )
        )
    return JsonResponse({"model": name, **row}, status_code=201)


@router.get("/models/{name}/versions/compare")
async def compare_versions(
    name: str,
    a: str,
    b: str,
    request: Request,
    start: float | None = None,
    end: float | None = None,
    who: Principal = Depends(require("read")),
) -> JsonResponse:
    """Two versions side by side: offline and live metrics, files changed."""
    reg = _registry(request, who)
    return JsonResponse(await run_in_threadpool(reg.compare, name, a, b, start=start, end=end))


@router.get("/registry/versions")
async def search_versions(
    request: Request,
    tag: list[str] = Query([], description="KEY=VALUE, or KEY for any value; repeat."),
    metric: list[str] = Query([], description="Offline metric filter, e.g. accuracy>=0.9; repeat."),
    model: str | None = Query(None, description="Only this model's versions."),
    status: str | None = Query(None, description="active, deprecated or archived."),
    include_archived: bool = Query(False, alias="all", description="Include archived versions."),
    who: Principal = Depends(require("read")),
) -> JsonResponse:
    """Versions of every model (or ``model``) whose tags and offline metrics match all
    filters; archived versions only with ``all=true``."""
    rows = await run_in_threadpool(
        lambda: _registry(request, who).search(
            model=model, tags=tag, metrics=metric, include_archived=include_archived, status=status
        )
    )
    return JsonResponse({"versions": rows})


@router.patch("/models/{name}/versions/{version}")
async def edit_version(
    name: str,
    version: str,
    body: EditRequest,
    request: Request,
    who: Principal = Depends(require("write")),
) -> JsonResponse:
    """Change a version's notes and tags; each change goes to its history (``history``
    in the answer) and the audit log, in the caller's name."""
    row = await run_in_threadpool(
        lambda: _registry(request, who).edit(
            name, version, notes=body.notes, tags=body.tags, untag=body.untag, reason=body.reason
        )
    )
    return JsonResponse(row)


@router.get("/models/{name}/versions/{version}/history")
async def version_history(
    name: str,
    version: str,
    request: Request,
    who: Principal = Depends(require("read")),
) -> JsonResponse:
    """Every edit of the version after registration: notes, tags, status; who and why."""
    rows = await run_in_threadpool(_registry(request, who).version_history, name, version)
    return JsonResponse({"model": name, "version": version, "history": rows})


def _status_route(status: str, doc: str) -> Callable[..., Awaitable[JsonResponse]]:
    async def change(
        name: str,
        version: str,
        request: Request,
        body: StatusRequest | None = None,
        who: Principal = Depends(require("write")),
    ) -> JsonResponse:
        reason = body.reason if body is not None else None
        row = await run_in_threadpool(
            lambda: _registry(request, who).set_status(name, version, status, reason=reason)
        )
        return JsonResponse(row)

    change.__doc__ = doc
    return change


for _action, _status, _doc in (
    (
        "archive",
        "archived",
        "Archive the version: kept for the record, hidden from "
        "lists, never served by an alias (409 while an alias serves it).",
    ),
    ("deprecate", "deprecated", "Deprecate the version: still usable, loading it warns."),
    ("restore", "active", "Make an archived or deprecated version active again."),
):
    router.add_api_route(
        f"/models/{{name}}/versions/{{version}}/{_action}",
        _status_route(_status, _doc),
        methods=["POST"],
        name=f"{_action}_version",
    )


@router.get("/models/{name}/versions/{version}")
async def get_version(
    name: str,
    version: str,
    request: Request,
    who: Principal = Depends(require("read")),
) -> JsonResponse:
    """A version with its manifest (per-file digests) and signature bundle."""
    reg = _registry(request, who)
    row = await run_in_threadpool(reg.get, name, version)
    row["metadata"] = row.pop("meta", None)
    row["history"] = await run_in_threadpool(reg.version_history, name, version)
    return JsonResponse(row)


@router.post("/models/{name}/versions/{version}/verify")
async def verify_version(
    name: str,
    version: str,
    request: Request,
    who: Principal = Depends(require("read")),
) -> JsonResponse:
    """Check signature, digests and pickle safety (409 when refused, with an audit entry)."""
    reg = _registry(request, who)
    return JsonResponse(await run_in_threadpool(reg.verify, name, version))


@router.get("/models/{name}/aliases")
async def list_aliases(
    name: str,
    request: Request,
    who: Principal = Depends(require("read")),
) -> JsonResponse:
    """Every alias of the model, with the version each one resolves to."""
    rows = await run_in_threadpool(_registry(request, who).aliases, name)
    return JsonResponse({"model": name, "aliases": rows})


@router.get("/models/{name}/aliases/{alias}")
async def get_alias(
    name: str,
    alias: str,
    request: Request,
    who: Principal = Depends(require("read", "ingest")),
) -> Response:
    """Where the alias points (``ingest`` keys may read it, to follow it from the SDK)."""
    row = await run_in_threadpool(_registry(request, who).alias, name, alias)
    tag = etag(row)
    if request.headers.get("if-none-match") == tag:
        return Response(status_code=304, headers={"ETag": tag})
    return JsonResponse(row, headers={"ETag": tag})


@router.put("/models/{name}/aliases/{alias}")
async def set_alias(
    name: str,
    alias: str,
    body: AliasRequest,
    request: Request,
    who: Principal = Depends(require("write")),
) -> JsonResponse:
    """Promote: point the alias at a version (or make it follow another alias)."""
    expected = body.expected_revision if body.expected_revision is not None else _if_match(request)
    row = await run_in_threadpool(
        lambda: _registry(request, who).promote(
            name,
            alias,
            body.version,
            follow=body.follow,
            reason=body.reason,
            expected_revision=expected,
            expected_version=body.expected_version,
        )
    )
    return JsonResponse(row, headers={"ETag": etag(row)})


@router.post("/models/{name}/aliases/{alias}/rollback")
async def rollback_alias(
    name: str,
    alias: str,
    request: Request,
    body: RollbackRequest | None = None,
    who: Principal = Depends(require("write")),
) -> JsonResponse:
    """Return the alias to ``to``, or to the version promoted before the current one."""
    body = body or RollbackRequest()
    expected = body.expected_revision if body.expected_revision is not None else _if_match(request)
    row = await run_in_threadpool(
        lambda: _registry(request, who).rollback(
            name, alias, body.to, reason=body.reason, expected_revision=expected
        )
    )
    return JsonResponse(row, headers={"ETag": etag(row)})


@router.put("/models/{name}/aliases/{alias}/canary")
async def start_canary(
    name: str,
    alias: str,
    body: CanaryRequest,
    request: Request,
    who: Principal = Depends(require("write")),
) -> JsonResponse:
    """Start a canary (or ``mode: "shadow"``) of ``version`` on the alias with a traffic
    ``share``; vigil promotes or rolls it back on the evidence (409 when the alias moved
    since ``expected_revision`` / ``If-Match``)."""
    cfg = body.model_dump(exclude_none=True, exclude={"reason", "expected_revision"})
    expected = body.expected_revision if body.expected_revision is not None else _if_match(request)
    reg = _registry(request, who)
    row = await run_in_threadpool(
        lambda: canary.start(
            reg,
            name,
            check_alias(alias),
            cfg,
            reason=body.reason,
            actor=who.actor,
            expected_revision=expected,
        )
    )
    return JsonResponse(row, headers={"ETag": etag(row)})


@router.delete("/models/{name}/aliases/{alias}/canary")
async def abort_canary(
    name: str,
    alias: str,
    request: Request,
    reason: str | None = Query(None, max_length=2000),
    who: Principal = Depends(require("write")),
) -> JsonResponse:
    """Abort the alias's canary: it is removed, the alias keeps serving its version."""
    row = await run_in_threadpool(
        lambda: _registry(request, who).abort_canary(name, alias, reason=reason)
    )
    return JsonResponse(row, headers={"ETag": etag(row)})


@router.get("/models/{name}/aliases/{alias}/history")
async def alias_history(
    name: str,
    alias: str,
    request: Request,
    limit: int = Query(100, ge=1, le=10_000),
    who: Principal = Depends(require("read")),
) -> JsonResponse:
    """Every change of the alias, oldest first: action, version, who, when and why."""
    rows = await run_in_threadpool(_registry(request, who).history, name, alias, limit)
    return JsonResponse({"model": name, "alias": alias, "history": rows})


@router.get("/models/{name}/aliases/{alias}/policy")
async def get_policy(
    name: str,
    alias: str,
    request: Request,
    who: Principal = Depends(require("read")),
) -> JsonResponse:
    """The alias's automatic rollback policy (404 when it has none)."""
    store = request.app.state.store
    record = await run_in_threadpool(_registry(request, who).model, name)
    row = await run_in_threadpool(q.get_policy, store, record.id, alias)
    if row is None:
        from vigil.errors import NotFoundError

        raise NotFoundError(f"Alias {alias!r} of {name!r} has no rollback policy.")
    return JsonResponse({"model": name, "alias": alias, **row})


@router.put("/models/{name}/aliases/{alias}/policy")
async def put_policy(
    name: str,
    alias: str,
    body: PolicyRequest,
    request: Request,
    who: Principal = Depends(require("write")),
) -> JsonResponse:
    """Set the automatic rollback policy: e.g. ``{"max": {"error_rate": 0.05}}``."""
    policy = body.model_dump(exclude_none=True)
    checked = await run_in_threadpool(
        set_rollback_policy, request.app.state.store, name, alias, policy, who.actor
    )
    return JsonResponse({"model": name, "alias": alias, "policy": checked, "enabled": True})


@router.delete("/models/{name}/aliases/{alias}/policy")
async def delete_policy(
    name: str,
    alias: str,
    request: Request,
    who: Principal = Depends(require("write")),
) -> JsonResponse:
    """Disable the alias's rollback policy."""
    await run_in_threadpool(
        set_rollback_policy, request.app.state.store, name, alias, None, who.actor
    )
    return JsonResponse({"model": name, "alias": alias, "enabled": False})


def start_policy_loop(app: FastAPI) -> Callable[[], Awaitable[None]]:
    """Start checking rollback policies and canaries every ``registry_check_interval_s``
    seconds;
    return the coroutine function that stops it (0 disables the loop)."""
    interval = float(app.state.settings.registry_check_interval_s)
    if interval <= 0:

        async def noop() -> None:
            return None

        return noop
    store, base_url = app.state.store, app.state.settings.base_url
    leadership = app.state.leadership
    # look often enough to take over within the lease's takeover time; each interval's
    # round is still claimed once, by the leader of the "registry" job
    pause = min(interval, leadership.renew_s)

    def check() -> None:
        try:
            check_rollback_policies(store, base_url=base_url)
        except Exception:  # the loop must survive a failing database
            log.exception("checking rollback policies failed")
        try:
            check_canaries(store, base_url=base_url)
        except Exception:
            log.exception("checking canaries failed")

    def round_() -> None:
        with leadership.round("registry", str(int(time.time() // interval))) as token:
            if token is not None:
                check()

    async def loop() -> None:
        while True:
            await asyncio.sleep(pause)
            try:
                await run_in_threadpool(round_)
            except Exception:
                log.exception("the registry round failed")

    task = asyncio.get_running_loop().create_task(loop(), name="vigil-rollback-policies")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
