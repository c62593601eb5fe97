"""Profiles and drift of Spark DataFrames, built where the data lives.

:func:`profile` runs one pass over a Spark DataFrame: each partition streams its rows as
Arrow record batches (``mapInArrow``) into one :class:`vigil.Profile`, which travels back
to the driver as bytes; the driver merges them. The result is the profile
:meth:`vigil.Profile.from_frame` builds from the same rows: counts, nulls, min and max
and category counts are equal, means and variances equal up to float rounding, and
quantiles and distinct counts within the sketches' stated errors (KLL rank error about
1.3%, HLL about 1.6%). :func:`detect_drift` compares two DataFrames through their
profiles with :func:`vigil.profile.profile_drift` (sketch mode), as the server does for
large windows. :func:`upload_reference` and :func:`upload_window` send a profile to a
``vigil server``.

Needs the ``spark`` extra (``pip install 'vigil[spark]'``, Java 17+). The same code runs
in local mode and on a cluster; executors need vigil installed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from vigil.errors import InvalidParameterError
from vigil.profile import Profile, ProfileDrift, profile_drift
from vigil.schema import FeatureKind, ModelSchema

if TYPE_CHECKING:  # pyspark is an optional extra: import it only where it is used
    import pyarrow as pa
    from pyspark.sql import DataFrame

PROFILE_MEDIA_TYPE = "application/vnd.vigil.profile"
"""Content type of a profile body (the bytes of :meth:`vigil.Profile.to_bytes`)."""
BATCH_ROWS = 65_536
"""Rows folded into a partition's profile at a time (Spark sends 10,000 per batch)."""
_KIND_SAMPLE = 1000  # the same head of non-null values Profile.from_frame votes on


def profile(
    df: DataFrame,
    *,
    kinds: Mapping[str, FeatureKind | str] | None = None,
    schema: ModelSchema | None = None,
) -> Profile:
    """Profile a Spark DataFrame in one pass: one profile per partition, merged.

    Args:
        df: the DataFrame (every column is profiled; select the ones you want first).
        kinds: kind per column name; overrides ``schema``.
        schema: kinds for the columns it names.

    Columns without a given kind get it from their Spark type (numbers: numeric;
    booleans, dates and timestamps: categorical; arrays of numbers: embedding); a string
    column's kind is voted on its first 1000 non-null values, as
    :meth:`vigil.Profile.from_frame` does (a small ``limit`` job per such column; pass
    ``kinds`` to skip it).

    Raises:
        InvalidParameterError: ``df`` is not a Spark DataFrame, ``kinds`` names unknown
            columns or kinds, or a column's values do not fit its kind.
    """
    resolved = resolve_kinds(df, kinds=kinds, schema=schema)
    run = _partition_profiler(resolved, BATCH_ROWS)
    try:
        rows = df.mapInArrow(run, "profile binary").collect()
    except Exception as exc:
        raise _user_error(exc) from exc
    if not rows:  # a DataFrame without partitions: the empty profile of its columns
        from vigil.profile import ColumnProfile

        return Profile(0, {name: ColumnProfile(name, kind) for name, kind in resolved.items()})
    return Profile.merge_all(Profile.from_bytes(bytes(r[0])) for r in rows)


def detect_drift(
    reference_df: DataFrame,
    current_df: DataFrame,
    *,
    kinds: Mapping[str, FeatureKind | str] | None = None,
    schema: ModelSchema | None = None,
    **options: Any,
) -> ProfileDrift:
    """Drift of ``current_df`` against ``reference_df`` from their profiles (sketch mode).

    Both sides are profiled with :func:`profile` using the reference's column kinds, then
    compared by :func:`vigil.profile.profile_drift` (the same policy as
    :func:`vigil.detect_drift`: one test per column, Benjamini–Hochberg, effect-size
    floors; each column states its ``error_bound``).

    Args:
        reference_df: the reference data.
        current_df: the data to check.
        kinds: kind per column name (as :func:`profile`).
        schema: kinds for the columns it names.
        **options: passed to :func:`vigil.profile.profile_drift` (``method``,
            ``per_column``, ``thresholds``, ``alpha``, ...).
    """
    resolved = resolve_kinds(reference_df, kinds=kinds, schema=schema)
    shared = {c: k for c, k in resolved.items() if c in set(_spark_df(current_df).columns)}
    return profile_drift(
        profile(reference_df, kinds=resolved), profile(current_df, kinds=shared), **options
    )


def resolve_kinds(
    df: DataFrame,
    *,
    kinds: Mapping[str, FeatureKind | str] | None = None,
    schema: ModelSchema | None = None,
) -> dict[str, str]:
    """The kind of every column of ``df`` (see :func:`profile` for the rules)."""
    from pyspark.sql import types as st

    df = _spark_df(df)
    given: dict[str, str] = {}
    if schema is not None:
        if not isinstance(schema, ModelSchema):
            raise InvalidParameterError(
                f"'schema' must be a vigil ModelSchema. Got {type(schema).__name__} instead."
            )
        given.update({f.name: f.kind.value for f in schema.features if f.name in df.columns})
    unknown = sorted(set(kinds or {}) - set(df.columns))
    if unknown:
        raise InvalidParameterError(
            f"'kinds' names columns the DataFrame lacks: {unknown}. Columns: {df.columns}."
        )
    for name, kind in (kinds or {}).items():
        try:
            given[name] = FeatureKind(kind).value
        except ValueError:
            allowed = ", ".join(k.value for k in FeatureKind)
            raise InvalidParameterError(
                f"The kind of column {name!r} must be one of {allowed}. Got {kind!r}."
            ) from None
    if len(set(df.columns)) != len(df.columns):
        raise InvalidParameterError(f"Column names must be unique. Got {df.columns}.")
    out: dict[str, str] = {}
    for field in df.schema.fields:
        name, dtype = field.name, field.dataType
        if name in given:
            out[name] = given[name]
        elif isinstance(
            dtype, st.BooleanType | st.DateType | st.TimestampType | st.TimestampNTZType
        ):
            out[name] = FeatureKind.CATEGORICAL.value
        elif isinstance(dtype, st.NumericType | st.NullType):
            out[name] = FeatureKind.NUMERIC.value
        elif isinstance(dtype, st.ArrayType) and isinstance(dtype.elementType, st.NumericType):
            out[name] = FeatureKind.EMBEDDING.value
        elif isinstance(dtype, st.StringType):
            out[name] = _vote_string_kind(df, name).value
        else:
            out[name] = FeatureKind.CATEGORICAL.value
    return out


def upload_reference(
    prof: Profile,
    url: str,
    model: str,
    *,
    api_key: str | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Make ``prof`` the reference of ``model`` on the vigil server at ``url``.

    The server keeps the profile (no raw rows), so the model's drift windows are tested
    in sketch mode against it. Returns the server's summary.

    Raises:
        InvalidParameterError: the server refused the profile (4xx; its message says why).
        TransportError: the server failed (5xx).
    """
    return _post(url, f"/api/v1/models/{model}/reference", prof, api_key, timeout)


def upload_window(
    prof: Profile,
    url: str,
    model: str,
    *,
    api_key: str | None = None,
    method: str = "auto",
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Test ``prof`` as a window of ``model``'s inputs against its reference on the server.

    Returns the same report as ``GET /api/v1/models/{model}/drift`` in sketch mode.
    """
    return _post(
        url, f"/api/v1/models/{model}/drift/profile?method={method}", prof, api_key, timeout
    )


# --------------------------------------------------------------------------- internals
def _spark_df(df: Any) -> DataFrame:
    """``df`` when it is a pyspark DataFrame (classic or Spark Connect), else a clear error."""
    if all(hasattr(df, attr) for attr in ("mapInArrow", "schema", "columns", "limit")):
        return df
    raise InvalidParameterError(
        f"vigil.spark takes a pyspark DataFrame. Got {type(df).__name__} instead; use "
        "vigil.Profile.from_frame for pandas, polars or Arrow."
    )


def _user_error(exc: Exception) -> Exception:
    """An executor's InvalidParameterError as one on the driver; other errors unchanged."""
    import re

    match = re.search(r"vigil\.errors\.InvalidParameterError: (.+)", str(exc))
    return InvalidParameterError(match.group(1).strip()) if match else exc


def _vote_string_kind(df: DataFrame, name: str) -> FeatureKind:
    """Vote on the first non-null values of a string column, like Profile.from_frame."""
    from pyspark.sql import functions as F

    from vigil.profile.ingest import _vote

    col = F.col(f"`{name}`")
    head = df.select(col).where(col.isNotNull()).limit(_KIND_SAMPLE).collect()
    return _vote([r[0] for r in head])


def _partition_profiler(kinds: dict[str, str], batch_rows: int) -> Any:
    """The function each partition runs: Arrow batches in, one serialized profile out."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        from vigil.profile.column import ColumnProfile
        from vigil.profile.ingest import fill

        columns = {name: ColumnProfile(name, kind) for name, kind in kinds.items()}
        n_rows = 0
        pending: list[pa.RecordBatch] = []
        pending_rows = 0

        def fold() -> None:
            table = pa.Table.from_batches(pending)
            for name in kinds:
                fill(columns[name], table.column(name).combine_chunks())
            pending.clear()

        for batch in batches:
            if batch.num_rows == 0:
                continue
            pending.append(batch)
            pending_rows += batch.num_rows
            n_rows += batch.num_rows
            if pending_rows >= batch_rows:
                fold()
                pending_rows = 0
        if pending:
            fold()
        data = Profile(n_rows, columns).to_bytes()
        yield pa.RecordBatch.from_arrays([pa.array([data], pa.binary())], names=["profile"])

    return run


def _post(
    url: str, path: str, prof: Profile, api_key: str | None, timeout: float
) -> dict[str, Any]:
    import httpx

    from vigil.errors import TransportError

    if not isinstance(prof, Profile):
        raise InvalidParameterError(f"Upload a vigil Profile. Got {type(prof).__name__} instead.")
    headers = {"content-type": PROFILE_MEDIA_TYPE}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    response = httpx.post(
        url.rstrip("/") + path, content=prof.to_bytes(), headers=headers, timeout=timeout
    )
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except Exception:  # not vigil's error shape (a proxy, a crash page)
            message = response.text[:500]
        text = f"The server refused the profile ({response.status_code}): {message}"
        if response.status_code < 500:
            raise InvalidParameterError(text)
        raise TransportError(text)
    result: dict[str, Any] = response.json()
    return result
