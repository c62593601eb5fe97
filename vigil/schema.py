"""Model schemas: what a model takes and returns, and how a record is checked against it.

A :class:`ModelSchema` lists the model's input features, each with a :class:`FeatureKind`,
and its :class:`Task`. It is given when a model is registered or inferred from the first
records the SDK sees; ingest validates every record against it and answers per field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vigil.errors import InvalidParameterError


class FeatureKind(StrEnum):
    """How a column's values are compared and profiled."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    TEXT = "text"
    EMBEDDING = "embedding"


class Task(StrEnum):
    """What the model predicts; decides which quality metrics apply."""

    BINARY_CLASSIFICATION = "binary_classification"
    MULTICLASS_CLASSIFICATION = "multiclass_classification"
    REGRESSION = "regression"
    RANKING = "ranking"
    TEXT_GENERATION = "text_generation"
    OTHER = "other"


_NAME_MAX = 200
_MISSING = object()
_TEXT_CATEGORY_CUTOFF = 50  # inferred strings longer than this are text, not categories


@dataclass(frozen=True, slots=True)
class Feature:
    """One input column of a model.

    Attributes:
        name: the key in each record's ``inputs``.
        kind: numeric, categorical, text or embedding.
        required: when true a record without this key is rejected; ``null`` is always
            accepted and counted as a missing value.
        dim: the length of an embedding vector (embedding features only, optional).
    """

    name: str
    kind: FeatureKind
    required: bool = True
    dim: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or len(self.name) > _NAME_MAX:
            raise InvalidParameterError(
                f"A feature name must be a non-empty string of at most {_NAME_MAX} "
                f"characters. Got {self.name!r} instead."
            )
        try:
            object.__setattr__(self, "kind", FeatureKind(self.kind))
        except ValueError:
            kinds = ", ".join(k.value for k in FeatureKind)
            raise InvalidParameterError(
                f"The kind of feature {self.name!r} must be one of {kinds}. "
                f"Got {self.kind!r} instead."
            ) from None
        if self.dim is not None and (
            self.kind is not FeatureKind.EMBEDDING or not isinstance(self.dim, int) or self.dim < 1
        ):
            raise InvalidParameterError(
                f"'dim' of feature {self.name!r} must be a positive integer and is only "
                f"allowed for embedding features. Got {self.dim!r} for kind {self.kind}."
            )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind.value}
        if not self.required:
            out["required"] = False
        if self.dim is not None:
            out["dim"] = self.dim
        return out


@dataclass(frozen=True, slots=True)
class ModelSchema:
    """The features a model takes and the task it solves.

    Examples:
        >>> s = ModelSchema.infer([{"age": 31, "plan": "pro"}], task="binary_classification")
        >>> [(f.name, f.kind.value) for f in s.features]
        [('age', 'numeric'), ('plan', 'categorical')]
        >>> for problem in s.validate_inputs({"age": "old"}):
        ...     print(problem)
        ('inputs.age', 'expected a finite number, got str')
        ('inputs.plan', 'missing required feature')
    """

    features: tuple[Feature, ...] = ()
    task: Task = Task.OTHER
    _by_name: dict[str, tuple[bool, Callable[[Any], str | None]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _numeric: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)
    _categorical: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)
    _others: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))
        try:
            object.__setattr__(self, "task", Task(self.task))
        except ValueError:
            tasks = ", ".join(t.value for t in Task)
            raise InvalidParameterError(
                f"'task' must be one of {tasks}. Got {self.task!r} instead."
            ) from None
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidParameterError(f"Feature names must be unique. Repeated: {dupes}.")
        object.__setattr__(
            self, "_by_name", {f.name: (f.required, _checker(f)) for f in self.features}
        )
        by_kind = {k: tuple(f.name for f in self.features if f.kind is k) for k in FeatureKind}
        object.__setattr__(self, "_numeric", by_kind[FeatureKind.NUMERIC])
        object.__setattr__(self, "_categorical", by_kind[FeatureKind.CATEGORICAL])
        others = by_kind[FeatureKind.TEXT] + by_kind[FeatureKind.EMBEDDING]
        object.__setattr__(self, "_others", others)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> Feature | None:
        """The feature called ``name``, or None."""
        for f in self.features:
            if f.name == name:
                return f
        return None

    def validate_inputs(self, inputs: Any, prefix: str = "inputs") -> list[tuple[str, str]]:
        """Check one record's inputs; return ``(field path, reason)`` for each problem."""
        if not isinstance(inputs, Mapping):
            return [(prefix, f"expected an object of feature values, got {_type(inputs)}")]
        problems: list[tuple[str, str]] = []
        get, missing, float_, int_, str_ = inputs.get, _MISSING, float, int, str
        # fast paths for the common valid values; anything else goes to the full check
        for name in self._numeric:
            value = get(name, missing)
            kind = type(value)
            if (kind is float_ and value - value == 0.0) or kind is int_:
                continue
            self._slow_check(name, value, problems, prefix)
        for name in self._categorical:
            value = get(name, missing)
            if type(value) is str_:
                continue
            self._slow_check(name, value, problems, prefix)
        for name in self._others:
            self._slow_check(name, get(name, missing), problems, prefix)
        if len(problems) > 1:
            order = {n: i for i, n in enumerate(self.feature_names)}
            problems.sort(key=lambda p: order[p[0][len(prefix) + 1 :]])
        return problems

    def _slow_check(
        self, name: str, value: Any, problems: list[tuple[str, str]], prefix: str
    ) -> None:
        if value is None:
            return
        required, check = self._by_name[name]
        if value is _MISSING:
            if required:
                problems.append((f"{prefix}.{name}", "missing required feature"))
            return
        reason = check(value)
        if reason is not None:
            problems.append((f"{prefix}.{name}", reason))

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task.value, "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, data: Any) -> ModelSchema:
        """Build a schema from its JSON form, with a clear error for each mistake."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidParameterError(f"A schema must be an object. Got {_type(data)} instead.")
        raw = data.get("features", [])
        if not isinstance(raw, list):
            raise InvalidParameterError(
                f"'features' must be a list of objects. Got {_type(raw)} instead."
            )
        features = []
        for i, item in enumerate(raw):
            if not isinstance(item, Mapping) or "name" not in item or "kind" not in item:
                raise InvalidParameterError(
                    f"features[{i}] must be an object with 'name' and 'kind'. Got {item!r}."
                )
            unknown = set(item) - {"name", "kind", "required", "dim"}
            if unknown:
                raise InvalidParameterError(
                    f"features[{i}] has unknown keys {sorted(unknown)}; "
                    "allowed: name, kind, required, dim."
                )
            required = item.get("required", True)
            if not isinstance(required, bool):
                raise InvalidParameterError(
                    f"features[{i}].required must be true or false. Got {required!r}."
                )
            features.append(
                Feature(item["name"], item["kind"], required=required, dim=item.get("dim"))
            )
        return cls(tuple(features), task=data.get("task", Task.OTHER))

    @classmethod
    def infer(
        cls, records: Iterable[Mapping[str, Any]], task: Task | str = Task.OTHER
    ) -> ModelSchema:
        """Infer feature kinds from sample input dicts (first non-null value decides)."""
        kinds: dict[str, FeatureKind | None] = {}
        dims: dict[str, int | None] = {}
        for rec in records:
            for name, value in rec.items():
                if kinds.get(name) is not None or value is None:
                    kinds.setdefault(name, None)
                    continue
                kind = infer_kind(value)
                kinds[name] = kind
                if kind is FeatureKind.EMBEDDING:
                    dims[name] = len(value)
        features = tuple(
            Feature(str(n), k or FeatureKind.NUMERIC, dim=dims.get(n)) for n, k in kinds.items()
        )
        return cls(features, task=task)  # type: ignore[arg-type]  # __post_init__ converts a str


def infer_kind(value: Any) -> FeatureKind:
    """The kind a single non-null value suggests."""
    if isinstance(value, bool):
        return FeatureKind.CATEGORICAL
    if isinstance(value, int | float):
        return FeatureKind.NUMERIC
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        return FeatureKind.EMBEDDING
    if isinstance(value, str) and (len(value) > _TEXT_CATEGORY_CUTOFF or " " in value.strip()):
        return FeatureKind.TEXT
    return FeatureKind.CATEGORICAL


def _type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), type(value).__name__
    )


def _check_numeric(value: Any) -> str | None:
    if type(value) is float:
        return None if math.isfinite(value) else f"expected a finite number, got {value!r}"
    if type(value) is int:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"expected a finite number, got {type(value).__name__}"
    return None if math.isfinite(value) else f"expected a finite number, got {value!r}"


def _check_categorical(value: Any) -> str | None:
    if isinstance(value, str | bool | int):
        return None
    return f"expected a category (string, integer or boolean), got {_type(value)}"


def _check_text(value: Any) -> str | None:
    return None if isinstance(value, str) else f"expected a string, got {_type(value)}"


def _checker(feature: Feature) -> Callable[[Any], str | None]:
    if feature.kind is FeatureKind.NUMERIC:
        return _check_numeric
    if feature.kind is FeatureKind.CATEGORICAL:
        return _check_categorical
    if feature.kind is FeatureKind.TEXT:
        return _check_text
    dim = feature.dim

    def check_embedding(value: Any) -> str | None:
        if not isinstance(value, list | tuple):
            return f"expected an array of numbers, got {_type(value)}"
        if dim is not None and len(value) != dim:
            return f"expected {dim} numbers, got {len(value)}"
        for v in value:
            if _check_numeric(v) is not None:
                return f"expected only finite numbers, got {v!r}"
        return None

    return check_embedding
