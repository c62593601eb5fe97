"""Quantiles of a column fed in chunks (as the minute fold does) against numpy's ranks.

Each chunk goes into the KLL sketch sorted (cheaper compactions); the sketch's rank error
bound holds for any order of the stream, which these orders check: random, ascending,
descending, and chunks drifting apart.
"""

from __future__ import annotations

import numpy as np
import pytest

from vigil.profile.column import ColumnProfile


def _streams() -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(8)
    x = rng.lognormal(0.0, 1.0, 120_000)
    drift = [rng.normal(i * 0.3, 1.0 + i / 10, 8000) for i in range(15)]
    return {
        "random": np.array_split(x, 15),
        "ascending": np.array_split(np.sort(x), 15),
        "descending": np.array_split(np.sort(x)[::-1], 15),
        "drifting": drift,
        "uneven": np.split(x, [3, 250, 251, 9000, 60_000, 60_500]),
    }


STREAMS = _streams()


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_chunked_quantiles_within_rank_error(name: str) -> None:
    chunks = STREAMS[name]
    col = ColumnProfile("x", "numeric")
    for chunk in chunks:
        col.update_numeric(chunk)
    everything = np.sort(np.concatenate(chunks))
    eps = col.rank_error
    assert 0 < eps < 0.02
    for q in np.linspace(0.0, 1.0, 41):
        rank = np.searchsorted(everything, col.quantile(float(q)), side="right") / everything.size
        assert abs(rank - q) <= eps + 1 / everything.size
    assert col.kll is not None and col.kll.n == everything.size


def test_read_only_values_are_accepted() -> None:
    values = np.arange(1000.0)
    values.flags.writeable = False
    col = ColumnProfile("x", "numeric")
    col.update_numeric(values)
    assert col.quantile(0.5) == pytest.approx(500.0, abs=20)
