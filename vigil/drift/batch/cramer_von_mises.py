"""Two-sample Cramér–von Mises test on a prepared reference.

Statistic (Anderson 1962) ``T = U / (n m N) - (4 n m - 1) / (6 N)`` with
``U = n Σ (r_i - i)² + m Σ (s_j - j)²`` over the mid-ranks ``r``, ``s`` of each sorted
sample in the pooled sample. Mid-ranks come from binary searches against the sorted
reference (its own tie counts prepared once), not from re-ranking the pooled sample. The
p-value is scipy's :func:`scipy.stats.cramervonmises_2samp`: exact when both samples have
at most 20 values (computed by scipy), otherwise the normalised statistic against the
limiting distribution (Csörgő and Faraway 1996). Threshold p < 0.05; effect size:
Wasserstein/σ (min 0.1).

Validity limit: that p-value assumes continuous data. With ties (integer counts, rounded
values: more than 1 % of the pooled values repeat another) it is invalid — a no-drift
Poisson(3) column at 3,000 vs 2,000 rows is flagged nearly every time — so the p-value
then comes from a permutation test of the same statistic (mid-ranks of the pooled sample
fixed, the labels shuffled; 999 permutations up to 50,000 pooled values, fewer above;
seeded, so reproducible), and the reason says so. A permutation p-value is exact under
no drift whatever the ties, at a resolution of ``1 / (B + 1)``.

References:
    Anderson, T. W. (1962). On the distribution of the two-sample Cramér–von Mises
    criterion. Annals of Mathematical Statistics 33(3), 1148–1159.
    Csörgő, S. and Faraway, J. J. (1996). The exact and asymptotic distributions of
    Cramér–von Mises statistics. JRSS B 58(1), 221–234.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from scipy.special import gammaln, kv

from vigil.schema import FeatureKind

from ._base import BatchTest, numeric_effect
from ._sample import NumericSample


def _cdf_cvm_inf(x: float) -> float:
    """Limiting CDF of the one-sample statistic, the series scipy sums."""
    tot = 0.0
    k = 0
    while True:
        u = math.exp(gammaln(k + 0.5) - gammaln(k + 1)) / (np.pi**1.5 * np.sqrt(x))
        y = 4 * k + 1
        q = y**2 / (16 * x)
        z = u * math.sqrt(y) * np.exp(-q) * kv(0.25, q)
        tot += z
        if abs(z) < 1e-7:
            return float(tot)
        k += 1


def _midranks(sample: NumericSample, other: NumericSample) -> np.ndarray:
    less_self, equal_self = sample.self_ranks
    less_other = np.searchsorted(other.sorted, sample.sorted, side="left")
    equal_other = np.searchsorted(other.sorted, sample.sorted, side="right") - less_other
    return less_self + less_other + (equal_self + equal_other + 1) / 2


def cvm_statistic(ref: NumericSample, cur: NumericSample) -> float:
    """The statistic T, equal to scipy's for the same samples."""
    nx, ny = ref.n, cur.n
    rx, ry = _midranks(ref, cur), _midranks(cur, ref)
    u = nx * np.sum((rx - np.arange(1, nx + 1, dtype=np.float64)) ** 2) + ny * np.sum(
        (ry - np.arange(1, ny + 1, dtype=np.float64)) ** 2
    )
    k, big_n = nx * ny, nx + ny
    return float(u / (k * big_n) - (4 * k - 1) / (6 * big_n))


def cvm_pvalue(t: float, nx: int, ny: int) -> float:
    """The asymptotic p-value exactly as scipy computes it."""
    k, big_n = nx * ny, nx + ny
    et = (1 + 1 / big_n) / 6
    vt: float = (big_n + 1) * (4 * k * big_n - 3 * (nx**2 + ny**2) - 2 * k)
    vt = vt / (45 * big_n**2 * 4 * k)
    tn = 1 / 6 + (t - et) / math.sqrt(45 * vt)
    if tn < 0.003:
        return 1.0
    return max(1.0 - _cdf_cvm_inf(tn), 0.0)


_TIE_SHARE = 0.01
_PERMUTATIONS = 999


def _tie_share(ref: NumericSample, cur: NumericSample) -> float:
    pooled = np.concatenate([ref.sorted, cur.sorted])
    pooled.sort(kind="stable")
    repeats = int(np.count_nonzero(pooled[1:] == pooled[:-1]))
    return repeats / max(pooled.size, 1)


def _u_statistics(ranks: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``U`` for each row of ``masks`` (True: the value belongs to the first sample).

    The first sample's ``i``-th value sits where the running count of True reaches ``i``;
    the second's ``j`` is the position minus that count, so one cumulative sum serves both.
    """
    n = int(masks[0].sum())
    m = masks.shape[1] - n
    count = np.cumsum(masks, axis=1, dtype=np.int32)
    below = ranks - np.arange(1, ranks.size + 1)
    diff = np.where(masks, ranks - count, below + count)
    diff *= diff
    return m * diff.sum(axis=1) + (n - m) * np.where(masks, diff, 0.0).sum(axis=1)


def cvm_permutation_pvalue(
    ref: NumericSample,
    cur: NumericSample,
    *,
    permutations: int = _PERMUTATIONS,
    seed: int = 0,
) -> tuple[float, int]:
    """Permutation p-value of the statistic (valid with ties) and the permutations used."""
    pooled = np.concatenate([ref.sorted, cur.sorted])
    is_ref = np.concatenate([np.ones(ref.n, bool), np.zeros(cur.n, bool)])
    order = np.argsort(pooled, kind="stable")
    values, labels = pooled[order], is_ref[order]
    big_n = values.size
    starts = np.flatnonzero(np.concatenate([[True], values[1:] != values[:-1]]))
    ends = np.append(starts[1:], big_n)
    ranks = np.repeat((starts + ends + 1) / 2.0, ends - starts)  # 1-based mid-ranks
    observed = _u_statistics(ranks, labels[None, :])[0]
    rng = np.random.default_rng(seed)
    chunk = max(1, int(4_000_000 // big_n))
    at_least, done = 0, 0
    while done < permutations:
        b = min(chunk, permutations - done)
        masks = rng.permuted(np.broadcast_to(labels, (b, big_n)), axis=1)
        at_least += int(np.count_nonzero(_u_statistics(ranks, masks) >= observed * (1 - 1e-12)))
        done += b
    return (at_least + 1) / (permutations + 1), permutations


class CramerVonMises(BatchTest):
    """Two-sample Cramér–von Mises test.

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> test = CramerVonMises().fit(rng.normal(size=1000))
        >>> r = test.compare(rng.normal(0.5, 1, size=300))
        >>> r.drifted, r.p_value < 1e-6
        (True, True)
    """

    name = "cvm"
    kinds = (FeatureKind.NUMERIC,)
    default_threshold = 0.05
    default_min_effect = 0.1
    effect_name = "Wasserstein/σ"
    min_n = 2

    def _compute(
        self, ref: NumericSample, cur: NumericSample
    ) -> tuple[float | None, float | None, float | None, str]:
        ties = _tie_share(ref, cur)
        notes = []
        if max(ref.n, cur.n) <= 20 and ties <= _TIE_SHARE:
            res = stats.cramervonmises_2samp(ref.sorted, cur.sorted, method="exact")
            t, p = float(res.statistic), float(res.pvalue)
        else:
            t = cvm_statistic(ref, cur)
            if ties > _TIE_SHARE:
                big_n = ref.n + cur.n
                b = _PERMUTATIONS if big_n <= 50_000 else max(199, int(5e7 // big_n))
                p, b = cvm_permutation_pvalue(ref, cur, permutations=b)
                notes.append(
                    f"{ties:.0%} of the values are ties, which makes the asymptotic CvM "
                    f"p-value invalid; p is from {b} permutations (resolution "
                    f"{1 / (b + 1):.2g})."
                )
            else:
                p = cvm_pvalue(t, ref.n, cur.n)
        effect, note = numeric_effect(ref, cur)
        return t, p, effect, " ".join(x for x in (*notes, note) if x)
