"""Always-valid comparison of two failure rates (canary vs stable), for canary decisions.

Each request of version A (stable) or B (canary) fails with probability ``p_a`` or ``p_b``
(an error, or a latency above a fixed threshold). Two nulls are tested, each with an
e-process built by universal inference (Wasserman, Ramdas & Balakrishnan 2020): the
numerator is the Krichevsky-Trofimov mixture likelihood of both arms (independent
Beta(1/2, 1/2) priors, a likelihood that "learns" the rates as data come), the
denominator the likelihood maximised over the null. For every rate pair in the null the
ratio mixture/likelihood is a non-negative martingale of mean 1, and the maximised
denominator only makes the ratio smaller, so by Ville's inequality
``P(the e-value ever reaches 1/alpha) <= alpha`` whatever the number of looks:

- ``rollback``: H0 ``p_b <= p_a`` (the canary is no worse). Rolling back a canary that is
  no worse than stable happens with probability at most ``alpha``.
- ``promote``: H0 ``p_b >= p_a + tolerance`` (the canary is worse by at least the
  tolerance). Promoting such a canary happens with probability at most ``alpha``.

The model assumes independent requests with rates constant over the canary's life (the
arms see the same traffic at the same time, which removes most of the drift that matters).

References:
    L. Wasserman, A. Ramdas, S. Balakrishnan (2020). Universal inference. PNAS 117(29).
    R. Krichevsky, V. Trofimov (1981). The performance of universal encoding. IEEE
    Trans. Inf. Theory 27(2).
    V. Vovk, R. Wang (2021). E-values: calibration, combination and applications. Ann.
    Statist. 49(3).

Examples:
    >>> round(log_e_rollback(20, 1000, 30, 200), 1)  # 2 % vs 15 %: strong evidence
    18.7
    >>> round(log_e_promote(200, 10000, 20, 1000, 0.05), 1)  # at parity, 5 points allowed
    17.2
"""

from __future__ import annotations

import math

_JEFFREYS = 0.5


def log_mixture(errors: int, n: int, a: float = _JEFFREYS, b: float = _JEFFREYS) -> float:
    """Log marginal likelihood of a Bernoulli sequence with ``errors`` ones in ``n`` under a
    Beta(a, b) prior on its rate (any order: the sequence is exchangeable).

    Examples:
        >>> round(log_mixture(0, 0), 6)
        0.0
        >>> round(log_mixture(1, 1), 4)  # the first outcome has probability 1/2
        -0.6931
    """
    return (
        math.lgamma(a + errors)
        + math.lgamma(b + n - errors)
        - math.lgamma(a + b + n)
        - math.lgamma(a)
        - math.lgamma(b)
        + math.lgamma(a + b)
    )


def log_likelihood(errors: int, n: int, p: float) -> float:
    """``errors log p + (n - errors) log(1 - p)``, with ``0 log 0 = 0``."""
    out = 0.0
    if errors:
        out += errors * math.log(p) if p > 0 else -math.inf
    if n - errors:
        out += (n - errors) * math.log1p(-p) if p < 1 else -math.inf
    return out


def _free_max(ea: int, na: int, eb: int, nb: int) -> float:
    pa = ea / na if na else 0.0
    pb = eb / nb if nb else 0.0
    return log_likelihood(ea, na, pa) + log_likelihood(eb, nb, pb)


def log_e_rollback(ea: int, na: int, eb: int, nb: int) -> float:
    """Log e-value against "the canary (B) fails no more often than stable (A)"."""
    pa = ea / na if na else 0.0
    pb = eb / nb if nb else 0.0
    if pb <= pa:
        null_max = _free_max(ea, na, eb, nb)
    else:  # the constrained maximum lies on p_a == p_b: the pooled rate
        pooled = (ea + eb) / (na + nb)
        null_max = log_likelihood(ea + eb, na + nb, pooled)
    return log_mixture(ea, na) + log_mixture(eb, nb) - null_max


def _boundary_max(ea: int, na: int, eb: int, nb: int, tol: float) -> float:
    """max over ``p`` in [0, 1 - tol] of ``ll(ea, na, p) + ll(eb, nb, p + tol)`` (concave:
    bisection on the derivative)."""

    def slope(p: float) -> float:
        return ea / p - (na - ea) / (1 - p) + eb / (p + tol) - (nb - eb) / (1 - p - tol)

    lo, hi = 1e-15, 1.0 - tol - 1e-15
    if hi <= lo:
        return log_likelihood(ea, na, 0.0) + log_likelihood(eb, nb, 1.0)
    if slope(lo) <= 0:
        p = 0.0
    elif slope(hi) >= 0:
        p = 1.0 - tol
    else:
        for _ in range(100):
            mid = (lo + hi) / 2
            if slope(mid) > 0:
                lo = mid
            else:
                hi = mid
        p = (lo + hi) / 2
    return log_likelihood(ea, na, p) + log_likelihood(eb, nb, min(p + tol, 1.0))


def log_e_promote(ea: int, na: int, eb: int, nb: int, tolerance: float) -> float:
    """Log e-value against "the canary (B) fails at least ``tolerance`` more often than
    stable (A)" (``p_b >= p_a + tolerance``)."""
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be in (0, 1). Got {tolerance!r}.")
    pa = ea / na if na else 0.0
    pb = eb / nb if nb else 0.0
    if pb >= pa + tolerance:
        null_max = _free_max(ea, na, eb, nb)
    else:
        null_max = _boundary_max(ea, na, eb, nb, tolerance)
    return log_mixture(ea, na) + log_mixture(eb, nb) - null_max


def decide(
    ea: int, na: int, eb: int, nb: int, *, alpha: float, tolerance: float
) -> tuple[str | None, float, float]:
    """``("rollback" | "promote" | None, log_e_rollback, log_e_promote)`` at level
    ``alpha``: each wrong decision has probability at most ``alpha``.

    Examples:
        >>> decide(50, 5000, 60, 500, alpha=0.05, tolerance=0.01)[0]
        'rollback'
        >>> decide(100, 10000, 10, 1000, alpha=0.05, tolerance=0.05)[0]
        'promote'
        >>> decide(1, 100, 0, 10, alpha=0.05, tolerance=0.01)[0] is None
        True
    """
    threshold = math.log(1 / alpha)
    roll = log_e_rollback(ea, na, eb, nb)
    prom = log_e_promote(ea, na, eb, nb, tolerance)
    if roll >= threshold:
        return "rollback", roll, prom
    if prom >= threshold:
        return "promote", roll, prom
    return None, roll, prom
