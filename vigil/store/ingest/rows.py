"""Validated prediction rows of one ingest batch, kept as columns until someone needs dicts.

Ingest checks a batch column by column (:mod:`vigil.engine.ingest.columns`); building a
dict per record only to take it apart again in the store, the aggregator and the
Prometheus hook costs more than the checks. :class:`PredictionRows` holds the columns
and is also a read-only sequence of row dicts: the first time a row is asked for (a
redaction policy or the input scorer that rewrite rows in place, a callback that wants
dicts), every row is built once and from then on the rows are the truth, so changes made
to them are what the store writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, cast, overload

import orjson

ROW_FIELDS = (
    "id",
    "version",
    "ts",
    "latency_s",
    "error",
    "error_type",
    "subject_id",
    "inputs",
    "outputs",
    "proba",
)
"""The per-record fields of a prediction row; ``received_at`` and ``model_id`` are per batch."""


class PredictionRows(Sequence[dict[str, Any]]):
    """One batch of validated prediction rows (see the module docstring).

    ``columns`` maps each of :data:`ROW_FIELDS` to a list of ``n`` values; every row has
    ``received_at`` and ``model_id`` of the batch.
    """

    __slots__ = ("_columns", "_rows", "model_id", "n", "received_at")

    def __init__(
        self, columns: Mapping[str, Sequence[Any]], received_at: float, model_id: int | None
    ) -> None:
        self._columns: dict[str, Sequence[Any]] | None = {f: columns[f] for f in ROW_FIELDS}
        self.n = len(self._columns["id"])
        self.received_at = received_at
        self.model_id = model_id
        self._rows: list[dict[str, Any]] | None = None

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]]) -> PredictionRows:
        """Wrap row dicts (each with the :data:`ROW_FIELDS`, ``received_at``, ``model_id``);
        the rows stay the truth (they are not copied)."""
        if isinstance(rows, PredictionRows):
            return rows
        first = rows[0] if rows else {}
        out = cls.__new__(cls)
        out._columns = None
        out.n = len(rows)
        out.received_at = first.get("received_at", 0.0)
        out.model_id = first.get("model_id")
        out._rows = [r if type(r) is dict else dict(r) for r in rows]
        return out

    @property
    def materialized(self) -> bool:
        """Whether the rows were built as dicts (the rows, not the columns, hold the truth)."""
        return self._rows is not None

    def column(self, name: str) -> list[Any]:
        """The values of one field over the batch (a list the caller must not change; the
        inputs of an Arrow body are their :class:`JsonObjects`, read as a sequence)."""
        if self._rows is None:
            assert self._columns is not None
            if name == "received_at":
                return [self.received_at] * self.n
            if name == "model_id":
                return [self.model_id] * self.n
            return cast("list[Any]", self._columns[name])
        if name == "error_type":  # rows from elsewhere may lack the derived kind
            return [r.get("error_type") for r in self._rows]
        return list(map(itemgetter(name), self._rows))

    def uniform(self, name: str) -> bool:
        """Whether ``received_at`` / ``model_id`` is one value for the whole batch."""
        if self._rows is None:
            return True
        values = {r.get(name) for r in self._rows}
        return len(values) <= 1

    def rows(self) -> list[dict[str, Any]]:
        """The rows as dicts, built once (changes to them are kept)."""
        if self._rows is None:
            assert self._columns is not None
            received_at, model_id = self.received_at, self.model_id
            names = (*ROW_FIELDS, "received_at", "model_id")
            n = self.n
            self._rows = [
                dict(zip(names, values, strict=True))
                for values in zip(
                    *self._columns.values(), [received_at] * n, [model_id] * n, strict=True
                )
            ]
            self._columns = None
        return self._rows

    def take(self, index: Sequence[int]) -> PredictionRows:
        """The rows at ``index`` (in that order), as a new batch."""
        if self._rows is not None:
            rows = self._rows
            return PredictionRows.from_rows([rows[i] for i in index])
        assert self._columns is not None
        return PredictionRows(
            {k: [c[i] for i in index] for k, c in self._columns.items()},
            self.received_at,
            self.model_id,
        )

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        return self.rows()[i]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows())


class JsonObjects(Sequence[Any]):
    """A column of JSON objects that arrived as their texts (an Arrow body's inputs, built
    per column): the store writes :attr:`texts` as they are, and the objects are parsed
    from them only when something reads one. From then on the objects are the truth
    (a redaction policy may change them in place), so :attr:`texts` is None."""

    __slots__ = ("_objects", "_texts")

    def __init__(self, texts: list[str]) -> None:
        self._texts = texts
        self._objects: list[Any] | None = None

    @property
    def texts(self) -> list[str] | None:
        """The JSON texts, while no object was read (else None: write the objects)."""
        return self._texts if self._objects is None else None

    def objects(self) -> list[Any]:
        """The parsed objects (parsed once)."""
        if self._objects is None:
            self._objects = list(map(orjson.loads, self._texts))
        return self._objects

    def __len__(self) -> int:
        return len(self._texts)

    @overload
    def __getitem__(self, i: int) -> Any: ...

    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...

    def __getitem__(self, i: int | slice) -> Any:
        return self.objects()[i]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.objects())
