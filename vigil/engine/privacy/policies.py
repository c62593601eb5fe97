"""Privacy at ingest and after: redaction policies, erasure of a subject, retention.

:class:`Redactor` is the ingest hook: it rewrites validated prediction rows before they
are stored or rolled up, so a redacted value never reaches the database. Policies are
cached per model (a model without one costs a dict lookup per batch) and re-read after
``ttl_s`` so other replicas' changes apply within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from vigil.audit.pii import KINDS, PIIDetector
from vigil.errors import InvalidParameterError
from vigil.schema import FeatureKind, ModelSchema
from vigil.store import ModelRecord, Store
from vigil.store.partitions import ensure_partitions
from vigil.store.privacy import queries as q

if TYPE_CHECKING:
    from vigil.engine.leader import Leadership

log = logging.getLogger("vigil.privacy")

ACTIONS = ("mask", "hash", "drop")
ALL_FIELDS = "*"
OUTPUTS = "outputs"
# pseudo-fields beyond inputs and outputs (an input feature of the same name wins)
ERROR = "error"  # a prediction's error message; drop keeps the error counted as "error"
LABEL = "label"  # a label's value (mask and hash only: a label without a value is useless)
COMMENT = "comment"  # a feedback comment
EVENT_FIELDS = (ERROR, LABEL, COMMENT)
_DAY_S = 86_400.0


def check_policy(schema: ModelSchema, field: str, action: str, kinds: list[str] | None) -> None:
    """Raise :class:`InvalidParameterError` unless the policy fits the model's schema."""
    if action not in ACTIONS:
        raise InvalidParameterError(
            f"'action' must be one of {', '.join(ACTIONS)}. Got {action!r}."
        )
    if kinds is not None:
        bad = [k for k in kinds if k not in KINDS]
        if bad or not kinds:
            raise InvalidParameterError(
                f"'kinds' must list PII kinds from {', '.join(KINDS)}. Got {kinds!r}."
            )
        if action != "mask":
            raise InvalidParameterError(
                f"'kinds' applies to the mask action only; {action} acts on the whole value."
            )
    if field in (ALL_FIELDS, OUTPUTS):
        if field == ALL_FIELDS and action != "mask":
            raise InvalidParameterError(
                f"The field '*' (every text input) takes the mask action only. Got {action!r}."
            )
        return
    feature = schema.feature(field)
    if feature is None and field in EVENT_FIELDS:
        if field == LABEL and action == "drop":
            raise InvalidParameterError(
                "Labels can be masked or hashed, not dropped (a label without its value "
                "is useless: do not send it instead)."
            )
        return
    if feature is None:
        names = ", ".join(schema.feature_names) or "none"
        raise InvalidParameterError(
            f"'field' must be an input feature of the model ({names}), 'outputs', "
            f"'error', 'label', 'comment' or '*'. Got {field!r}."
        )
    if action != "drop" and feature.kind not in (FeatureKind.TEXT, FeatureKind.CATEGORICAL):
        raise InvalidParameterError(
            f"Feature {field!r} is {feature.kind.value}; only text and categorical features "
            f"can be masked or hashed (drop works on any). Got {action!r}."
        )


@dataclass(frozen=True, slots=True)
class _Rule:
    field: str
    action: str
    detector: PIIDetector | None


class Redactor:
    """Applies each model's redaction policies to prediction rows, in place.

    Args:
        store: where policies and the hashing key live.
        ttl_s: how long a model's policies are cached before they are read again.
        score_inputs: first store each row's OOD and prompt-injection scores (computed on
            the raw inputs; see :mod:`vigil.engine.ingest.input_scores`).
    """

    def __init__(self, store: Store, ttl_s: float = 5.0, score_inputs: bool = True) -> None:
        from vigil.engine.ingest.input_scores import InputScorer

        self.store = store
        self.ttl_s = ttl_s
        self.scorer = InputScorer(store) if score_inputs else None
        self._plans: dict[int, tuple[float, list[_Rule]]] = {}
        self._key: bytes | None = None
        self._feature_names: dict[int, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def invalidate(self, model_id: int | None = None) -> None:
        """Forget cached policies (of one model, or all)."""
        with self._lock:
            if model_id is None:
                self._plans.clear()
            else:
                self._plans.pop(model_id, None)

    def _plan(self, model_id: int) -> list[_Rule]:
        now = time.monotonic()
        cached = self._plans.get(model_id)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        rules = [
            _Rule(p.field, p.action, PIIDetector(kinds=p.kinds) if p.action == "mask" else None)
            for p in q.get_policies(self.store, model_id)
        ]
        if any(r.action == "hash" for r in rules) and self._key is None:
            self._key = q.redaction_key(self.store)
        with self._lock:
            self._plans[model_id] = (now, rules)
        return rules

    def _features(self, model: ModelRecord) -> frozenset[str]:
        found = self._feature_names.get(model.id)
        if found is None or found[0] != model.updated_at:
            found = self._feature_names[model.id] = (
                model.updated_at,
                frozenset(model_features(model)),
            )
        return found[1]

    def __call__(self, model: ModelRecord, rows: Sequence[dict[str, Any]]) -> None:
        """Score, then redact ``rows`` (validated prediction rows of ``model``) in place."""
        if self.scorer is not None:
            try:
                self.scorer(model, rows)
            except Exception:  # scores are a signal; never lose the predictions for them
                log.exception("scoring the inputs of model %s failed", model.name)
        rules = self._plan(model.id)
        if not rules:
            return
        features = self._features(model)
        for row in rows:
            inputs = row["inputs"]
            if isinstance(inputs, dict):
                inputs = row["inputs"] = dict(inputs)
            for rule in rules:
                if rule.field == OUTPUTS:
                    row["outputs"] = self._apply(rule, row["outputs"])
                elif rule.field == ERROR and ERROR not in features:
                    if row.get("error") is not None:
                        row["error"] = self._apply(rule, row["error"]) or "error"
                elif not isinstance(inputs, dict):
                    continue
                elif rule.field == ALL_FIELDS:
                    for name, value in inputs.items():
                        if isinstance(value, str):
                            inputs[name] = rule.detector.redact(value)  # type: ignore[union-attr]
                elif rule.field in inputs:
                    inputs[rule.field] = self._apply(rule, inputs[rule.field])

    def redact_labels(self, model: ModelRecord, rows: list[dict[str, Any]]) -> None:
        """Apply the model's ``label`` policy to label rows (``actual``) in place."""
        self._redact_events(model, rows, LABEL, "actual")

    def redact_feedback(self, model: ModelRecord, rows: list[dict[str, Any]]) -> None:
        """Apply the model's ``comment`` policy to feedback rows in place."""
        self._redact_events(model, rows, COMMENT, "comment")

    def _redact_events(
        self, model: ModelRecord, rows: list[dict[str, Any]], field: str, column: str
    ) -> None:
        rules = [r for r in self._plan(model.id) if r.field == field]
        if not rules or field in self._features(model):
            return
        for row in rows:
            if row.get(column) is not None:
                row[column] = self._apply(rules[0], row[column])

    def _apply(self, rule: _Rule, value: Any) -> Any:
        if value is None or rule.action == "drop":
            return None
        if rule.action == "hash":
            raw = value.encode() if isinstance(value, str) else orjson.dumps(value)
            return "hmac:" + hmac.new(self._key or b"", raw, hashlib.sha256).hexdigest()[:32]
        return _mask(rule.detector, value)  # type: ignore[arg-type]


def model_features(model: ModelRecord) -> list[str]:
    """The input feature names of a model's schema (none when it has no schema)."""
    try:
        return list(ModelSchema.from_dict(model.schema).feature_names) if model.schema else []
    except Exception:  # a schema this vigil cannot read: treat as no features
        return []


def _mask(detector: PIIDetector, value: Any) -> Any:
    if isinstance(value, str):
        return detector.redact(value)
    if isinstance(value, dict):
        return {k: _mask(detector, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(detector, v) for v in value]
    return value


# -- retention -------------------------------------------------------------------------------
def enforce_retention(
    store: Store, now: float | None = None, actor: str = "retention"
) -> dict[str, dict[str, int]]:
    """Delete raw events older than each model's retention; audit what was deleted.

    On partitioned PostgreSQL whole days go (partitions dropped; a row is kept until its
    UTC day is wholly past the cutoff), each table's rows by their own time.

    Returns:
        Per model name, rows deleted per table (models with nothing to delete included).
    """
    now = time.time() if now is None else now
    names = {m.id: m.name for m in store.list_models()}
    done: dict[str, dict[str, int]] = {}
    policies = q.list_retention(store)
    # PostgreSQL: partitions of the coming days first, then whole expired days dropped
    # (partitioned, retention goes by whole days: see retention_cutoff)
    ensure_partitions(store, now)
    cutoffs = {p.model_id: q.retention_cutoff(store, now - p.days * _DAY_S) for p in policies}
    dropped = q.drop_expired_partitions(store, cutoffs)
    rowwise: set[str] = set()  # tables with rows deleted (dropped days leave nothing)
    for policy in policies:
        cutoff = cutoffs[policy.model_id]
        gone = dropped.get(policy.model_id, {})
        deleted = q.purge_before(store, policy.model_id, cutoff, sum(gone.values()))
        rowwise.update(table for table, n in deleted.items() if n)
        for table, n in gone.items():
            deleted[table] = deleted.get(table, 0) + n
        name = names.get(policy.model_id, str(policy.model_id))
        done[name] = deleted
        if any(deleted.values()):
            store.audit(
                actor,
                "retention.purge",
                name,
                {"days": policy.days, "cutoff": cutoff, "deleted": deleted},
            )
    if store.backend == "sqlite" and any(any(d.values()) for d in done.values()):
        q.wipe_deleted(store)  # zeroed pages in, old page images out of the WAL
    elif rowwise:  # PostgreSQL: vacuum what had rows deleted (a dropped day's files are gone)
        q.wipe_deleted(store, rowwise)
    return done


class RetentionJob:
    """Runs :func:`enforce_retention` every ``interval_s`` seconds on the event loop's
    thread pool; :meth:`stop` cancels it cleanly."""

    def __init__(
        self,
        store: Store,
        interval_s: float,
        run: Callable[[Store], Any] = enforce_retention,
        leadership: Leadership | None = None,
    ) -> None:
        self.store = store
        self.interval_s = interval_s
        self.leadership = leadership  # with replicas: only the "retention" leader runs
        self.runs = 0
        self._run = run
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:  # one failed run must not stop the schedule
                log.exception("retention run failed")
            self.runs += 1
            # with a leadership, look often: each interval's round still runs once
            await asyncio.sleep(
                self.interval_s
                if self.leadership is None
                else min(self.interval_s, self.leadership.renew_s)
            )

    def run_once(self) -> None:
        """One run, or (with a leadership) this interval's round when leading it."""
        if self.leadership is None:
            self._run(self.store)
            return
        key = str(int(time.time() // max(self.interval_s, 1e-3)))
        with self.leadership.round("retention", key) as token:
            if token is not None:
                self._run(self.store)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
