"""Ingest: validate events, store the valid ones idempotently, report the rest per field.

The same :class:`Ingestor` serves the HTTP routes and the SDK's local mode, so a batch
means the same thing whichever way it arrives: records are checked one by one, valid
ones are appended (a known id of the same model is a duplicate, not an error) and each
rejected record comes back with its index, id and ``{field, reason}`` list, and is counted
per version and reason. Inputs the schema does not know are added to it (unless the model
is strict); inputs that stop arriving are stored as missing. Rollups are not touched
here: the aggregator folds appended batches (see :mod:`vigil.store.ingest.aggregation`).
"""

from __future__ import annotations

import math
import operator
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vigil.engine.ingest.columns import ABSENT, PredictionColumns, check_columns
from vigil.engine.ingest.payload import field_problem, find_non_finite
from vigil.errors import InvalidParameterError, ModelNotFoundError, PayloadTooLargeError
from vigil.schema import Feature, FeatureKind, ModelSchema, Task, infer_kind
from vigil.store import ModelRecord, Store
from vigil.store.ingest import schemas as schema_store
from vigil.store.ingest.rows import ROW_FIELDS, JsonObjects, PredictionRows

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
ID_MAX = 64
VERSION_MAX = 100
DEFAULT_VERSION = "default"
FUTURE_SLACK_S = 24 * 3600
ERROR_TYPE_MAX = 100
DEFAULT_MAX_FIELD_CHARS = 256 * 1024
_ERROR_PREFIX = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]{0,99}):")

_PREDICTION_KEYS = frozenset(ROW_FIELDS)
_LABEL_KEYS = frozenset({"prediction_id", "actual", "ts"})
_FEEDBACK_KEYS = frozenset({"id", "prediction_id", "score", "comment", "ts"})


@dataclass
class IngestResult:
    """What happened to a batch: accepted, duplicates and per-record rejections."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    unmatched: int | None = None  # labels only: how many name no stored prediction yet

    def reject(self, index: int, record: Any, errors: list[tuple[str, str]]) -> None:
        rid = record.get("id", record.get("prediction_id")) if isinstance(record, Mapping) else None
        self.rejected.append(
            {
                "index": index,
                "id": rid if isinstance(rid, str) else None,
                "errors": [{"field": f, "reason": r} for f, r in errors],
            }
        )

    @property
    def all_rejected(self) -> bool:
        return bool(self.rejected) and self.accepted == 0 and self.duplicates == 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
        }
        if self.unmatched is not None:
            out["unmatched"] = self.unmatched
        return out


def new_id() -> str:
    """A time-ordered id for events sent without one (UUIDv7 layout)."""
    ms = time.time_ns() // 1_000_000
    rand = uuid.uuid4().int & ((1 << 74) - 1)
    low = rand & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | low
    return str(uuid.UUID(int=value))


class Ingestor:
    """Validates and stores models and events in a :class:`Store`."""

    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = 10_000,
        on_predictions: Callable[[str, Sequence[dict[str, Any]]], None] | None = None,
        redactor: Callable[[ModelRecord, Sequence[dict[str, Any]]], None] | None = None,
        max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self.max_field_chars = max_field_chars
        self.on_predictions = on_predictions  # called with the rows really inserted
        self.redactor = redactor  # rewrites valid rows in place before anything is stored
        self._models: dict[str, tuple[ModelRecord, ModelSchema]] = {}

    # -- models ----------------------------------------------------------------------
    def register_model(self, body: Any) -> tuple[dict[str, Any], bool]:
        """Create or update a model from ``{name, task?, schema?, description?}``."""
        if not isinstance(body, Mapping):
            raise InvalidParameterError("The body must be a JSON object with at least 'name'.")
        unknown = set(body) - {"name", "task", "schema", "description", "strict"}
        if unknown:
            raise InvalidParameterError(
                f"Unknown fields {sorted(unknown)}; allowed: name, task, schema, description, "
                "strict."
            )
        strict = body.get("strict")
        if strict is not None and not isinstance(strict, bool):
            raise InvalidParameterError(f"'strict' must be true or false. Got {strict!r}.")
        name = check_model_name(body.get("name"))
        schema = ModelSchema.from_dict(body.get("schema"))
        task = body.get("task", schema.task)
        try:
            task = Task(task)
        except ValueError:
            raise InvalidParameterError(
                f"'task' must be one of {', '.join(t.value for t in Task)}. Got {task!r}."
            ) from None
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            raise InvalidParameterError("'description' must be a string.")
        schema = ModelSchema(schema.features, task=task)
        record, created = self.store.upsert_model(
            name, task.value, schema.to_dict(), description, strict
        )
        self._models.pop(name, None)
        return self.describe(record), created

    def describe(self, record: ModelRecord) -> dict[str, Any]:
        out = record.to_dict()
        out["versions"] = self.store.list_versions(record.id)
        return out

    def get_model(self, name: str) -> dict[str, Any]:
        return self.describe(self._model(name)[0])

    def lookup_model(self, name: str) -> ModelRecord:
        """The registered model named ``name``, from the same cache ingest uses.

        Raises:
            ModelNotFoundError: no model of that name, with how to register one.
        """
        return self._model(name)[0]

    def _model(self, name: str) -> tuple[ModelRecord, ModelSchema]:
        cached = self._models.get(name)
        if cached is not None:
            return cached
        record = self.store.get_model(name)
        if record is None:
            raise ModelNotFoundError(
                f"No model named {name!r} is registered. Register it with POST /api/v1/models "
                "(the SDK's Monitor does this on first contact)."
            )
        entry = (record, _validation_schema(record))
        self._models[name] = entry
        return entry

    def get_schema(self, name: str) -> dict[str, Any]:
        """The model's schema as stored now, whether it is strict, and its history."""
        record = self.store.get_model(name)
        if record is None:
            self._model(name)  # raises the not-found error with its fix
            raise AssertionError("unreachable")
        return {
            "model": record.name,
            "strict": record.strict,
            "schema": record.schema,
            "history": schema_store.schema_history(self.store, record.id),
        }

    # -- events ----------------------------------------------------------------------
    def ingest_predictions(
        self, name: str, records: Any, *, version: str | None = None, non_finite: bool = False
    ) -> IngestResult:
        """Validate and store a batch of prediction records.

        ``non_finite`` says the body went through the tolerant JSON parser (it held NaN,
        Infinity, huge integers or invalid strings), so every field is checked deeply.
        Inputs the schema does not know are added to it (unless the model is strict);
        inputs that stop arriving are stored as missing. Each rejected record is counted
        per version and reason.
        """
        model, schema = self._model(name)
        if isinstance(records, PredictionColumns):
            cols: PredictionColumns | None = records
            self._check_size(records.n, "records")
        else:
            records = self._batch(records, "records")
            # a body the tolerant parser read is checked deeply, record by record
            cols = None if non_finite else PredictionColumns.from_records(records)
        default_version = version or DEFAULT_VERSION
        now = time.time()
        result = IngestResult()
        if cols is None:
            rows, indexes = self._rows_per_record(
                records, model, schema, default_version, now, non_finite, result
            )
            batch = PredictionRows.from_rows(rows)
            unknown = True
        else:
            records = cols.record_list()
            batch, indexes, unknown = self._rows_per_column(
                cols, model, schema, default_version, now, result
            )
        if not model.strict and batch and unknown:
            model, schema, kept = self._evolve(
                name, model, schema, batch.rows(), indexes, records, result
            )
            batch = PredictionRows.from_rows(kept)
            cols = None  # rows were dropped after the columns were taken: let the store
        given = batch.column("inputs") if cols is not None else None
        if self.redactor is not None and batch:
            self.redactor(model, batch)  # builds row dicts only when a policy applies
        input_columns = None
        if (
            cols is not None
            and given is not None
            and (not batch.materialized or all(map(operator.is_, batch.column("inputs"), given)))
        ):  # the inputs are those the columns were taken from (not redacted)
            input_columns = cols.input_columns(None if len(batch) == cols.n else indexes)
        inserted = self.store.insert_predictions(model, batch, input_columns=input_columns)
        result.accepted = len(inserted)
        result.duplicates += len(batch) - len(inserted)
        if result.rejected:
            schema_store.record_rejections(
                self.store, model.id, _rejection_counts(result, records, default_version, now)
            )
        if self.on_predictions is not None and inserted:
            if len(inserted) < len(batch):
                ids = batch.column("id")
                batch = batch.take([i for i in range(len(batch)) if ids[i] in inserted])
            self.on_predictions(name, batch)
        return result

    def _rows_per_record(
        self,
        records: list[Any],
        model: ModelRecord,
        schema: ModelSchema,
        default_version: str,
        now: float,
        non_finite: bool,
        result: IngestResult,
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """Check every record on its own (bodies the tolerant JSON parser read)."""
        rows: list[dict[str, Any]] = []
        indexes: list[int] = []
        seen: set[str] = set()
        for i, rec in enumerate(records):
            row = self._check_record(
                i, rec, model, schema, default_version, now, non_finite, result
            )
            if row is None:
                continue
            if row["id"] in seen:
                result.duplicates += 1
            else:
                seen.add(row["id"])
                rows.append(row)
                indexes.append(i)
        return rows, indexes

    def _check_record(
        self,
        i: int,
        rec: Any,
        model: ModelRecord,
        schema: ModelSchema,
        default_version: str,
        now: float,
        non_finite: bool,
        result: IngestResult,
    ) -> dict[str, Any] | None:
        """Record ``i`` through the per-record check: its row, or None when it is rejected
        (its reasons go to ``result``). Both the tolerant parser's records and the ones
        the column checks flagged take this path, so their answers are the same."""
        errors: list[tuple[str, str]] = []
        row = _prediction_row(
            rec,
            f"records[{i}]",
            schema,
            default_version,
            now,
            errors,
            non_finite,
            self.max_field_chars,
            model.strict,
        )
        if errors:
            result.reject(i, rec, errors)
            return None
        row["model_id"] = model.id
        return row

    def _rows_per_column(
        self,
        cols: PredictionColumns,
        model: ModelRecord,
        schema: ModelSchema,
        default_version: str,
        now: float,
        result: IngestResult,
    ) -> tuple[PredictionRows, list[int], bool]:
        """Check the batch per column; build the clean records' rows from the columns and
        send only the flagged ones through the per-record check (same answers, in order).
        Returns the rows, their record indexes and whether an input is new to the schema.
        A batch with no flagged record and no repeated id stays columns end to end."""
        limit = self.max_field_chars
        checked = check_columns(
            cols,
            schema,
            now=now,
            future_slack_s=FUTURE_SLACK_S,
            max_chars=limit,
            strict=model.strict,
            limits={"id": ID_MAX, "version": VERSION_MAX},
        )
        slow = checked.slow
        f = cols.fields
        if cols.input_dicts is not None:
            inputs: Sequence[Any] = cols.input_dicts
        elif cols.input_texts is not None and not slow:  # stored as they are
            inputs = JsonObjects(cols.input_texts)
        else:
            assert cols.inputs is not None  # an Arrow table always has its inputs columns
            names = list(cols.inputs)
            inputs = [
                dict(zip(names, vals, strict=True))
                for vals in zip(*cols.inputs.values(), strict=True)
            ]
            if not names:
                inputs = [{} for _ in range(cols.n)]
        if not slow:
            fast = _clean_batch(cols, inputs, default_version, now, model.id)
            if fast is not None:
                return fast, list(range(cols.n)), checked.unknown_inputs
        rows: list[dict[str, Any]] = []
        indexes: list[int] = []
        seen: set[str] = set()
        model_id, absent, float_ = model.id, ABSENT, float
        for i, (pid, version, ts, latency, subject, outputs, proba, inp) in enumerate(
            zip(
                f["id"],
                f["version"],
                f["ts"],
                f["latency_s"],
                f["subject_id"],
                f["outputs"],
                f["proba"],
                inputs,
                strict=True,
            )
        ):
            if slow and i in slow:
                checked_row = self._check_record(
                    i,
                    cols.record(i),
                    model,
                    schema,
                    default_version,
                    now,
                    i in cols.non_finite,
                    result,
                )
                if checked_row is None:
                    continue
                row = checked_row
            else:
                if type(ts) is not float_:
                    ts = now if ts is None or ts is absent else float(ts)
                if latency is not None and type(latency) is not float_:
                    latency = None if latency is absent else float(latency)
                row = {
                    "id": new_id() if pid is None or pid is absent else pid,
                    "version": default_version if version is absent else version,
                    "ts": ts,
                    "latency_s": latency,
                    "error": None,
                    "error_type": None,
                    "subject_id": None if subject is absent else subject,
                    "inputs": inp,
                    "outputs": None if outputs is absent else outputs,
                    "proba": None if proba is absent else proba,
                    "received_at": now,
                    "model_id": model_id,
                }
            if row["id"] in seen:
                result.duplicates += 1
            else:
                seen.add(row["id"])
                rows.append(row)
                indexes.append(i)
        return PredictionRows.from_rows(rows), indexes, checked.unknown_inputs

    def _evolve(
        self,
        name: str,
        model: ModelRecord,
        schema: ModelSchema,
        rows: list[dict[str, Any]],
        indexes: list[int],
        records: list[Any],
        result: IngestResult,
    ) -> tuple[ModelRecord, ModelSchema, list[dict[str, Any]]]:
        """Add inputs the schema does not know yet (kind inferred from the first non-null
        value); then reject only the records whose value conflicts with the kind stored."""
        known = _facts(schema)[0]
        new: dict[str, tuple[str, str]] = {}
        unfit: dict[int, list[tuple[str, str]]] = {}  # id(row): values that cannot be stored
        for row in rows:
            inputs = row["inputs"]
            if len(inputs) <= len(known) and known.issuperset(inputs):
                continue
            for key, value in inputs.items():
                if key in known or value is None:
                    continue
                problem = field_problem(value, self.max_field_chars, slow=False)
                if problem:
                    unfit.setdefault(id(row), []).append((key, f"cannot be stored: {problem}"))
                    continue
                if key not in new:
                    new[key] = (infer_kind(value).value, row["version"])
        if not new and not unfit:
            return model, schema, rows
        bad_names = [k for k in new if not isinstance(k, str) or not 0 < len(k) <= 200]
        for k in bad_names:
            new.pop(k)
        stored = schema_store.add_features(
            self.store, model.id, [(k, kind, v) for k, (kind, v) in new.items()]
        )
        self._models.pop(name, None)
        model, schema = self._model(name)
        check = ModelSchema(tuple(f for f in schema.features if f.name in new), task=schema.task)
        kept: list[dict[str, Any]] = []
        for row, i in zip(rows, indexes, strict=True):
            problems = check.validate_inputs(row["inputs"], f"records[{i}].inputs")
            if id(row) in unfit:
                result.reject(
                    i, records[i], [(f"records[{i}].inputs.{k}", r) for k, r in unfit[id(row)]]
                )
            elif problems:
                result.reject(
                    i,
                    records[i],
                    [
                        (f, f"{r} (the schema holds this input as {_kind_of(stored, f)})")
                        for f, r in problems
                    ],
                )
            else:
                kept.append(row)
        return model, schema, kept

    def ingest_labels(self, name: str, items: Any, *, non_finite: bool = False) -> IngestResult:
        """Validate and store labels; a re-sent label replaces the earlier one."""
        model, _ = self._model(name)
        items = self._batch(items, "labels")
        result, rows, now = IngestResult(), {}, time.time()
        for i, item in enumerate(items):
            errors: list[tuple[str, str]] = []
            path = f"labels[{i}]"
            if not _object(item, path, _LABEL_KEYS, errors):
                result.reject(i, item, errors)
                continue
            pid = _id(item.get("prediction_id"), f"{path}.prediction_id", errors, required=True)
            if "actual" not in item or item["actual"] is None:
                errors.append((f"{path}.actual", "missing: the true value is required"))
            elif non_finite and (bad := find_non_finite(item["actual"], f"{path}.actual")):
                errors.append((bad, "expected a finite number, got a non-finite value"))
            elif problem := field_problem(item["actual"], self.max_field_chars, slow=non_finite):
                errors.append((f"{path}.actual", f"cannot be stored: {problem}"))
            ts = _ts(item.get("ts"), f"{path}.ts", now, errors)
            if errors:
                result.reject(i, item, errors)
            else:
                rows[pid] = {
                    "prediction_id": pid,
                    "actual": item["actual"],
                    "ts": ts,
                    "received_at": now,
                }
        if (redact := getattr(self.redactor, "redact_labels", None)) is not None and rows:
            redact(model, list(rows.values()))  # the model's "label" policy (privacy.py)
        result.unmatched = len(rows) - self.store.upsert_labels(model.id, list(rows.values()))
        result.accepted = len(rows)
        return result

    def ingest_feedback(self, name: str, items: Any, *, non_finite: bool = False) -> IngestResult:
        """Validate and store user feedback (idempotent on feedback id)."""
        model, _ = self._model(name)
        items = self._batch(items, "feedback")
        result, rows, now = IngestResult(), {}, time.time()
        for i, item in enumerate(items):
            errors: list[tuple[str, str]] = []
            path = f"feedback[{i}]"
            if not _object(item, path, _FEEDBACK_KEYS, errors):
                result.reject(i, item, errors)
                continue
            fid = _id(item.get("id"), f"{path}.id", errors, required=False) or new_id()
            pid = _id(item.get("prediction_id"), f"{path}.prediction_id", errors, required=True)
            score = _number(item.get("score"), f"{path}.score", errors, required=True)
            comment = item.get("comment")
            if comment is not None and not isinstance(comment, str):
                errors.append((f"{path}.comment", "expected a string or null"))
            elif comment is not None and (
                problem := field_problem(comment, self.max_field_chars, slow=non_finite)
            ):
                errors.append((f"{path}.comment", f"cannot be stored: {problem}"))
            ts = _ts(item.get("ts"), f"{path}.ts", now, errors)
            if errors:
                result.reject(i, item, errors)
            elif fid in rows:
                result.duplicates += 1
            else:
                rows[fid] = {
                    "id": fid,
                    "prediction_id": pid,
                    "score": score,
                    "comment": comment,
                    "ts": ts,
                    "received_at": now,
                }
        if (redact := getattr(self.redactor, "redact_feedback", None)) is not None and rows:
            redact(model, list(rows.values()))  # the model's "comment" policy (privacy.py)
        inserted = self.store.insert_feedback(model.id, list(rows.values()))
        result.accepted = len(inserted)
        result.duplicates += len(rows) - len(inserted)
        return result

    def _check_size(self, n: int, key: str) -> None:
        if n > self.max_batch:
            raise PayloadTooLargeError(
                f"The batch holds {n} {key}; the limit is {self.max_batch} "
                "(VIGIL_MAX_BATCH_RECORDS). Split it into smaller batches."
            )

    def _batch(self, items: Any, key: str) -> list[Any]:
        if isinstance(items, Mapping):
            if key not in items:
                raise InvalidParameterError(
                    f"The body must be an object with a {key!r} list (or a bare list). "
                    f"Got keys {sorted(items)[:10]}."
                )
            items = items[key]
        if not isinstance(items, list):
            raise InvalidParameterError(f"{key!r} must be a list. Got {type(items).__name__}.")
        self._check_size(len(items), key)
        return items


def _clean_batch(
    cols: PredictionColumns,
    inputs: Sequence[Any],
    default_version: str,
    now: float,
    model_id: int,
) -> PredictionRows | None:
    """The rows of a batch whose every record passed the column checks, as columns: the
    same values the per-record loop of :meth:`Ingestor._rows_per_column` gives each row
    (absent fields as null, the default version, ``now`` for a missing time, ints as
    floats, a new id where none was sent). None when ids repeat within the batch (the
    loop counts the later ones as duplicates)."""
    f = cols.fields
    absent, float_, n = ABSENT, float, cols.n
    ids = f["id"]
    if set(map(type, ids)) & _ABSENT_OR_NONE:
        ids = [new_id() if v is None or v is absent else v for v in ids]
    if len(set(ids)) != n:
        return None
    version = f["version"]
    if absent in version:  # identity first, in C (strings never equal the marker)
        version = [default_version if v is absent else v for v in version]
    ts = f["ts"]
    if set(map(type, ts)) - {float_}:
        ts = [v if type(v) is float_ else now if v is None or v is absent else float(v) for v in ts]
    latency = f["latency_s"]
    if set(map(type, latency)) - _FLOAT_OR_NONE:
        latency = [
            v if v is None or type(v) is float_ else None if v is absent else float(v)
            for v in latency
        ]
    nulls = [None] * n  # error and error_type: any value sent sends its record the slow way
    return PredictionRows(
        {
            "id": ids,
            "version": version,
            "ts": ts,
            "latency_s": latency,
            "error": nulls,
            "error_type": nulls,
            "subject_id": _absent_as_none(f["subject_id"]),
            "inputs": inputs,
            "outputs": _absent_as_none(f["outputs"]),
            "proba": _absent_as_none(f["proba"]),
        },
        now,
        model_id,
    )


_ABSENT_OR_NONE = frozenset({type(ABSENT), type(None)})
_FLOAT_OR_NONE = frozenset({float, type(None)})


def _absent_as_none(column: list[Any]) -> list[Any]:
    """``column`` with :data:`ABSENT` as None (the same list when nothing is absent)."""
    if type(ABSENT) not in set(map(type, column)):
        return column
    absent = ABSENT
    return [None if v is absent else v for v in column]


def check_model_name(name: Any) -> str:
    """Raise unless ``name`` is a valid model name; return it."""
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        raise InvalidParameterError(
            "A model name must be 1-200 characters of letters, digits, '_', '.' or '-', "
            f"starting with a letter or digit. Got {name!r}."
        )
    return name


def _prediction_row(
    rec: Any,
    path: str,
    schema: ModelSchema,
    default_version: str,
    now: float,
    errors: list[tuple[str, str]],
    non_finite: bool,
    max_chars: int = DEFAULT_MAX_FIELD_CHARS,
    strict: bool = False,
) -> dict[str, Any]:
    if not _object(rec, path, _PREDICTION_KEYS, errors):
        return {}
    pid = _id(rec.get("id"), f"{path}.id", errors, required=False) or new_id()
    version = rec.get("version", default_version)
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not 0 < len(version) <= VERSION_MAX or "\x00" in version:
        errors.append(
            (f"{path}.version", f"expected a string of 1-{VERSION_MAX} characters (no NUL)")
        )
    ts = _ts(rec.get("ts"), f"{path}.ts", now, errors)
    latency = _number(rec.get("latency_s"), f"{path}.latency_s", errors, required=False)
    if latency is not None and latency < 0:
        errors.append((f"{path}.latency_s", f"must be >= 0 seconds, got {latency!r}"))
    error = rec.get("error")
    if error is True:
        error = "error"
    elif error is False:
        error = None
    elif error is not None and not isinstance(error, str):
        errors.append((f"{path}.error", "expected a string (the error message) or null"))
    elif error is not None:
        if len(error) > max_chars:  # a message is for people: keep its head, never refuse it
            error = error[:max_chars]
        if "\x00" in error:
            error = error.replace("\x00", "\ufffd")
    error_type = rec.get("error_type")
    if error_type is not None:
        if (
            not isinstance(error_type, str)
            or not 0 < len(error_type) <= ERROR_TYPE_MAX
            or "\x00" in error_type
        ):
            errors.append(
                (
                    f"{path}.error_type",
                    f"expected a string of 1-{ERROR_TYPE_MAX} characters or null",
                )
            )
            error_type = None
        elif error is None:
            error = error_type  # a kind alone still marks the prediction as failed
    elif isinstance(error, str) and (match := _ERROR_PREFIX.match(error)):
        error_type = match.group(1)
    subject = rec.get("subject_id")
    if subject is not None and (
        not isinstance(subject, str) or not 0 < len(subject) <= 200 or "\x00" in subject
    ):
        errors.append((f"{path}.subject_id", "expected a string of 1-200 characters or null"))
    if "inputs" not in rec:
        errors.append((f"{path}.inputs", "missing: the model's input features are required"))
    else:
        inputs = rec["inputs"]
        problems = schema.validate_inputs(inputs, f"{path}.inputs")
        errors.extend(problems)
        if not problems:
            _check_inputs(inputs, f"{path}.inputs", schema, errors, non_finite, max_chars, strict)
    for key in ("outputs", "proba"):
        value = rec.get(key)
        kind = type(value)
        if not (
            value is None
            or kind is float
            or kind is bool
            or (kind is str and len(value) <= max_chars and not non_finite and "\x00" not in value)
        ):
            problem = field_problem(value, max_chars, slow=non_finite)
            if problem:
                errors.append((f"{path}.{key}", f"cannot be stored: {problem}"))
    if non_finite:
        for key in ("id", "version", "error", "error_type", "subject_id"):
            value = rec.get(key)
            if isinstance(value, str) and field_problem(value, 1 << 62, slow=True):
                errors.append(
                    (f"{path}.{key}", "a string that is not valid Unicode (a lone surrogate)")
                )
        for key in ("inputs", "outputs", "proba"):
            bad = find_non_finite(rec.get(key), f"{path}.{key}")
            if bad and not any(f == bad for f, _ in errors):
                errors.append((bad, "expected a finite number, got a non-finite value"))
    return {
        "id": pid,
        "version": version,
        "ts": ts,
        "latency_s": latency,
        "error": error,
        "error_type": error_type,
        "subject_id": subject,
        "inputs": rec.get("inputs"),
        "outputs": rec.get("outputs"),
        "proba": rec.get("proba"),
        "received_at": now,
    }


def _object(value: Any, path: str, allowed: frozenset[str], errors: list) -> bool:
    if not isinstance(value, Mapping):
        errors.append((path, f"expected an object, got {type(value).__name__}"))
        return False
    if allowed.issuperset(value):
        return True
    unknown = set(value) - allowed
    if unknown:
        errors.append((path, f"unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}"))
    return True


def _id(value: Any, path: str, errors: list, *, required: bool) -> str | None:
    if value is None:
        if required:
            errors.append((path, "missing: an id string is required"))
        return None
    if not isinstance(value, str) or not 0 < len(value) <= ID_MAX or "\x00" in value:
        errors.append((path, f"expected a string of 1-{ID_MAX} characters (no NUL)"))
        return None
    return value


def _number(value: Any, path: str, errors: list, *, required: bool) -> float | None:
    if value is None:
        if required:
            errors.append((path, "missing: a number is required"))
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append((path, f"expected a number, got {type(value).__name__}"))
        return None
    try:
        number = float(value)
    except OverflowError:  # a JSON integer with hundreds of digits
        errors.append((path, "expected a finite number, got an integer too large for a double"))
        return None
    if not math.isfinite(number):
        errors.append((path, f"expected a finite number, got {value!r}"))
        return None
    return number


def _ts(value: Any, path: str, now: float, errors: list) -> float:
    if value is None:
        return now
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            errors.append((path, "expected unix seconds or an ISO 8601 time"))
            return now
        if parsed.tzinfo is None:
            errors.append((path, "an ISO 8601 time needs a UTC offset (e.g. Z or +00:00)"))
            return now
        value = parsed.timestamp()
    ts = _number(value, path, errors, required=True)
    if ts is None:
        return now
    if ts <= 0:
        errors.append((path, f"expected unix seconds after 1970, got {ts!r}"))
    elif ts > now + FUTURE_SLACK_S:
        errors.append((path, f"lies more than a day in the future ({ts!r}); check the clock"))
    return ts


_REASONS = (  # (field suffix or reason text, rejection reason): a bounded set of reasons
    (".ts", "bad_timestamp"),
    (".id", "bad_id"),
    (".version", "bad_version"),
    (".latency_s", "bad_latency"),
    (".error_type", "bad_error"),
    (".error", "bad_error"),
    (".subject_id", "bad_subject"),
    (".outputs", "bad_output"),
    (".proba", "bad_output"),
)
REJECTION_REASONS = (
    "bad_timestamp",
    "bad_id",
    "bad_version",
    "bad_latency",
    "bad_error",
    "bad_subject",
    "bad_output",
    "missing_input",
    "unknown_input",
    "input_type",
    "too_large",
    "non_finite",
    "bad_record",
)


def rejection_reason(field_path: str, reason: str) -> str:
    """The bounded reason a rejected record is counted under (see REJECTION_REASONS)."""
    if "VIGIL_MAX_FIELD_BYTES" in reason:
        return "too_large"
    if "non-finite" in reason:
        return "non_finite"
    if ".inputs" in field_path:
        if reason.startswith("missing"):
            return "missing_input"
        if reason.startswith("unknown input"):
            return "unknown_input"
        return "input_type"
    for suffix, name in _REASONS:
        if field_path.endswith(suffix) or f"{suffix}." in field_path or f"{suffix}[" in field_path:
            return name
    return "bad_record"


def _rejection_counts(
    result: IngestResult, records: list[Any], default_version: str, now: float
) -> dict[tuple[str, int, str], int]:
    minute = int(now // 60) * 60
    counts: dict[tuple[str, int, str], int] = {}
    for rejected in result.rejected:
        rec = records[rejected["index"]]
        version = rec.get("version", default_version) if isinstance(rec, Mapping) else None
        if isinstance(version, int) and not isinstance(version, bool):
            version = str(version)
        if not isinstance(version, str) or not 0 < len(version) <= VERSION_MAX:
            version = default_version
        first = rejected["errors"][0] if rejected["errors"] else {"field": "", "reason": ""}
        key = (version, minute, rejection_reason(first["field"], first["reason"]))
        counts[key] = counts.get(key, 0) + 1
    return counts


def _check_inputs(
    inputs: Mapping[str, Any],
    path: str,
    schema: ModelSchema,
    errors: list,
    slow: bool,
    max_chars: int,
    strict: bool,
) -> None:
    """Storage limits on input values; with a strict schema, no unknown inputs.

    A body orjson parsed holds no integer beyond 64 bits and no invalid string, and the
    schema's checks already bound the known numeric and embedding inputs, so only the
    known string inputs need their length checked here; inputs the schema does not know
    are checked when they are added (:meth:`Ingestor._evolve`). A body the tolerant parser
    read (``slow``) has every value checked.
    """
    known, string_names = _facts(schema)
    if slow:
        for key, value in inputs.items():
            problem = field_problem(value, max_chars, slow=True)
            if problem:
                errors.append((f"{path}.{key}", f"cannot be stored: {problem}"))
            if field_problem(key, max_chars, slow=True):
                errors.append((path, "an input name that is not valid Unicode or too long"))
    else:
        get = inputs.get
        for name in string_names:
            value = get(name)
            if type(value) is str and (len(value) > max_chars or "\x00" in value):
                errors.append(
                    (
                        f"{path}.{name}",
                        f"cannot be stored: {field_problem(value, max_chars, slow=False)}",
                    )
                )
    if strict and not known.issuperset(inputs):
        for key in inputs:
            if key not in known:
                errors.append(
                    (
                        f"{path}.{key}",
                        "unknown input: the model's schema is strict "
                        "(register the input or set strict to false)",
                    )
                )


_FACTS: dict[int, tuple[ModelSchema, frozenset[str], tuple[str, ...]]] = {}


def _facts(schema: ModelSchema) -> tuple[frozenset[str], tuple[str, ...]]:
    """The schema's feature names and its string-valued ones, computed once per schema."""
    entry = _FACTS.get(id(schema))
    if entry is None or entry[0] is not schema:
        if len(_FACTS) > 256:
            _FACTS.clear()
        strings = tuple(
            f.name for f in schema.features if f.kind in (FeatureKind.CATEGORICAL, FeatureKind.TEXT)
        )
        entry = _FACTS[id(schema)] = (schema, frozenset(schema.feature_names), strings)
    return entry[1], entry[2]


def _validation_schema(record: ModelRecord) -> ModelSchema:
    """The schema ingest checks records against: as stored when strict, else with every
    input optional (an input that stops arriving is stored as missing, not refused)."""
    schema = ModelSchema.from_dict(record.schema)
    if record.strict:
        return schema
    return ModelSchema(
        tuple(Feature(f.name, f.kind, required=False, dim=f.dim) for f in schema.features),
        task=schema.task,
    )


def _kind_of(schema: Mapping[str, Any], field_path: str) -> str:
    name = field_path.rsplit(".", 1)[-1]
    for f in schema.get("features", []):
        if f.get("name") == name:
            return str(f.get("kind"))
    return "unknown"
