"""Scheduled evaluations: every N seconds or on a five-field cron expression (UTC).

The server's quality loop calls :func:`run_due`; a due schedule is claimed with a
conditional update, so with several replicas each due run happens once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any, NoReturn

from vigil.engine.quality.evaluation import evaluate
from vigil.errors import AliasNotFoundError, InvalidParameterError
from vigil.store import ModelRecord, Store
from vigil.store.quality import queries as qs
from vigil.store.registry import queries as registry_store

log = logging.getLogger("vigil.quality")

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 6))
MIN_INTERVAL_S = 1.0


def parse_cron(expr: str) -> list[set[int]]:
    """Parse ``"minute hour day month weekday"`` (``*``, ``a-b``, ``*/n``, ``a-b/n``,
    lists; weekday 0 = Sunday, 7 also Sunday) into the allowed values of each field.
    A time matches when every field matches, day and weekday included (Vixie cron
    matches either of those two when both are restricted).

    Examples:
        >>> [sorted(f)[:3] for f in parse_cron("*/15 9-17 * * 1-5")][:2]
        [[0, 15, 30], [9, 10, 11]]
    """
    parts = expr.split() if isinstance(expr, str) else []
    if len(parts) != 5:
        raise InvalidParameterError(
            f"'cron' must have five fields (minute hour day month weekday). Got {expr!r}."
        )
    out = []
    for text, (name, lo, hi) in zip(parts, _FIELDS, strict=True):
        values: set[int] = set()
        for item in text.split(","):
            rng, _, step_text = item.partition("/")
            try:
                step = int(step_text) if step_text else 1
                if rng == "*":
                    a, b = lo, hi
                elif "-" in rng:
                    a, b = (int(x) for x in rng.split("-", 1))
                else:
                    a = b = int(rng)
            except ValueError:
                raise InvalidParameterError(
                    f"Cron field {name} {text!r} is not a number, range or */step."
                ) from None
            top = 7 if name == "weekday" else hi
            if step < 1 or not lo <= a <= b <= top:
                raise InvalidParameterError(
                    f"Cron field {name} {text!r} must lie in {lo}-{hi} with a step >= 1."
                )
            values.update(v % 7 if name == "weekday" else v for v in range(a, b + 1, step))
        out.append(values)
    return out


def next_cron(expr: str, after: float) -> float:
    """The first minute strictly after ``after`` (unix seconds, UTC) matching ``expr``.

    Examples:
        >>> t = dt.datetime(2026, 1, 1, 10, 7, tzinfo=dt.UTC).timestamp()
        >>> dt.datetime.fromtimestamp(next_cron("*/15 * * * *", t), dt.UTC).strftime("%H:%M")
        '10:15'
    """
    minute, hour, day, month, weekday = parse_cron(expr)
    t = dt.datetime.fromtimestamp(after, dt.UTC).replace(second=0, microsecond=0)
    t += dt.timedelta(minutes=1)
    limit = t + dt.timedelta(days=366 * 5)
    while t < limit:
        if t.month not in month:
            t = (t.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
        elif t.day not in day or (t.isoweekday() % 7) not in weekday:
            t = t.replace(hour=0, minute=0) + dt.timedelta(days=1)
        elif t.hour not in hour:
            t = t.replace(minute=0) + dt.timedelta(hours=1)
        elif t.minute not in minute:
            t += dt.timedelta(minutes=1)
        else:
            return t.timestamp()
    raise InvalidParameterError(f"The cron expression {expr!r} never matches.")


def _next(schedule: dict[str, Any], after: float) -> float:
    if schedule.get("cron"):
        return next_cron(schedule["cron"], after)
    return after + float(schedule["interval_s"])


def create_schedule(store: Store, model: ModelRecord, body: Any) -> dict[str, Any]:
    """Validate ``{dataset, endpoint, interval_s | cron, version? | alias?}`` and store it.

    A schedule naming an alias evaluates whatever version the alias serves when each run
    starts (so after a rollback the runs land on the restored version).
    """
    if not isinstance(body, dict):
        raise InvalidParameterError("The body must be a JSON object.")
    allowed = {"dataset", "endpoint", "interval_s", "cron", "version", "alias"}
    if set(body) - allowed:
        raise InvalidParameterError(
            f"Unknown fields {sorted(set(body) - allowed)}; allowed: {sorted(allowed)}."
        )
    dataset, endpoint = body.get("dataset"), body.get("endpoint")
    if not isinstance(dataset, str):
        _bad("dataset", "the name of a registered golden data set", dataset)
    qs.get_dataset(store, model.id, dataset, with_data=False)  # 404 when unknown
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        _bad("endpoint", "an http:// or https:// URL of the model", endpoint)
    interval, cron = body.get("interval_s"), body.get("cron")
    if (interval is None) == (cron is None):
        raise InvalidParameterError("Give exactly one of 'interval_s' and 'cron'.")
    if interval is not None and (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not interval >= MIN_INTERVAL_S
    ):
        _bad("interval_s", f"a number of seconds >= {MIN_INTERVAL_S}", interval)
    version = body.get("version")
    if version is not None and (not isinstance(version, str) or not 0 < len(version) <= 100):
        _bad("version", "a string of 1-100 characters", version)
    alias = body.get("alias")
    if alias is not None:
        if version is not None:
            raise InvalidParameterError("Give at most one of 'version' and 'alias'.")
        if not isinstance(alias, str) or not 0 < len(alias) <= 100:
            _bad("alias", "the name of one of the model's registry aliases", alias)
        if registry_store.get_alias(store, model.id, alias) is None:
            raise AliasNotFoundError(
                f"Model {model.name!r} has no alias {alias!r}; set it first "
                f"(vigil registry promote {model.name} {alias} VERSION)."
            )
    values = {
        "dataset": dataset,
        "endpoint": endpoint,
        "version": version,
        "alias": alias,
        "interval_s": None if interval is None else float(interval),
        "cron": cron,
    }
    values["next_run_at"] = _next(values, time.time())
    return qs.create_schedule(store, model.id, values)


def _bad(field: str, expected: str, got: Any) -> NoReturn:
    raise InvalidParameterError(f"{field!r} must be {expected}. Got {got!r}.")


def run_due(store: Store, now: float | None = None) -> list[dict[str, Any]]:
    """Run every schedule whose time has come (each claimed once); return the runs."""
    now = time.time() if now is None else now
    runs = []
    models = {m.id: m for m in store.list_models()}
    for schedule in qs.list_schedules(store):
        if schedule["next_run_at"] > now or schedule["model_id"] not in models:
            continue
        if not qs.claim_schedule(
            store, schedule["id"], schedule["next_run_at"], _next(schedule, now)
        ):
            continue
        model = models[schedule["model_id"]]
        try:
            version = serving_version(store, model, schedule)
            runs.append(
                evaluate(
                    store,
                    model,
                    schedule["dataset"],
                    version=version,
                    endpoint=schedule["endpoint"],
                    schedule_id=schedule["id"],
                )
            )
        except Exception:  # a deleted data set, an alias serving nothing: log, go on
            log.exception("scheduled evaluation %s failed", schedule["id"])
    return runs


def serving_version(store: Store, model: ModelRecord, schedule: dict[str, Any]) -> str:
    """The version a run of ``schedule`` evaluates: the one named; else the one its alias
    serves now; else the one the ``production`` alias serves; else the newest seen."""
    if schedule.get("version"):
        return str(schedule["version"])
    alias = schedule.get("alias") or "production"
    row = registry_store.get_alias(store, model.id, alias)
    if row is not None and row["resolved_version"] is not None:
        return str(row["resolved_version"])
    if schedule.get("alias"):
        raise AliasNotFoundError(
            f"Alias {alias!r} of {model.name!r} serves no version; the run is skipped."
        )
    versions = store.list_versions(model.id)
    return versions[-1]["version"] if versions else "default"
