"""PostgreSQL COPY text of numbers: the shortest text that reads back as the same double."""

from __future__ import annotations

import math

import numpy as np

from vigil.store.ingest.aggregation import _NULL, _copy_floats


def test_numbers_read_back_as_the_same_doubles_whichever_way_they_are_written():
    rng = np.random.default_rng(7)
    values = (rng.normal(size=500) * 10.0 ** rng.integers(-30, 30, 500)).tolist()
    values += [0.0, -0.0, 100.0, 1e16, 5e-324, 1.7976931348623157e308, 3, 2**60, True]
    texts = _copy_floats(values)
    assert len(texts) == len(values)
    for text, value in zip(texts, values, strict=True):
        assert float(text) == float(value) and math.copysign(1, float(text)) == math.copysign(
            1, float(value)
        )
        assert len(text) <= len(repr(float(value))) + 1  # shortest: 1e16 is not 1e+16


def test_nulls_and_non_finite_values_are_written_one_by_one():
    assert _copy_floats([1.5, None, 2.0]) == ["1.5", _NULL, "2.0"]
    assert _copy_floats([None, None]) == [_NULL, _NULL]
    assert _copy_floats([1.0, math.inf, math.nan]) == ["1.0", "inf", "nan"]


def test_json_columns_of_plain_numbers_are_written_in_one_pass_as_value_by_value():
    import orjson

    from vigil.store.ingest.aggregation import _copy_json

    values = [1, 0, None, 2.5, True, False, -3, 1e300, math.nan, 2**63]
    assert _copy_json(values) == [_NULL if v is None else orjson.dumps(v).decode() for v in values]
    assert _copy_json([{"a": 1}, None, [1, 2]]) == ['{"a":1}', _NULL, "[1,2]"]


def test_text_fields_are_escaped_only_where_needed_and_nulls_marked():
    from vigil.store.ingest.aggregation import _copy_strings

    ids = ["a", "b-1", "é"]
    assert _copy_strings(ids) == ids
    assert _copy_strings(["tab\there", None, 7]) == ["tab\\there", _NULL, "7"]
    assert _copy_strings(["back\\slash", "new\nline"]) == ["back\\\\slash", "new\\nline"]
