"""The catalog of batch tests: method name → class, default threshold, column kinds.

``auto`` picks per column: Kolmogorov–Smirnov for numeric columns; for categorical ones
the z-test when the column is binary with every expected count ≥ 5, Fisher's exact test
when binary with smaller counts, chi-squared otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.errors import InvalidParameterError
from vigil.schema import FeatureKind

from ._base import BatchTest
from ._sample import CategoricalSample
from .anderson_darling import AndersonDarling
from .chi_squared import ChiSquared
from .cramer_von_mises import CramerVonMises
from .energy import EnergyDistance
from .hellinger import Hellinger
from .jensen_shannon import JensenShannon
from .ks import KolmogorovSmirnov
from .kullback_leibler import KullbackLeibler
from .proportions import FisherExact, ProportionZ, binary_table
from .psi import PopulationStabilityIndex
from .total_variation import TotalVariation
from .wasserstein import Wasserstein


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One method of the catalog.

    Attributes:
        name: the method name used in ``method=`` and ``per_column=``.
        cls: the :class:`BatchTest` subclass.
        threshold: its default threshold (significance level or distance).
        min_effect: its default minimum effect size (tests with a p-value only).
        kinds: the column kinds it accepts.
        has_p_value: whether it is a test (True) or a distance (False).
    """

    name: str
    cls: type[BatchTest]
    threshold: float
    min_effect: float
    kinds: tuple[FeatureKind, ...]
    has_p_value: bool


_CLASSES: tuple[type[BatchTest], ...] = (
    KolmogorovSmirnov,
    CramerVonMises,
    AndersonDarling,
    ChiSquared,
    ProportionZ,
    FisherExact,
    PopulationStabilityIndex,
    JensenShannon,
    KullbackLeibler,
    Hellinger,
    TotalVariation,
    Wasserstein,
    EnergyDistance,
)

CATALOG: dict[str, CatalogEntry] = {
    c.name: CatalogEntry(
        c.name, c, c.default_threshold, c.default_min_effect, c.kinds, c.has_p_value
    )
    for c in _CLASSES
}


def get_test(method: str, kind: FeatureKind | str | None = None) -> CatalogEntry:
    """The catalog entry for ``method``, checked against a column ``kind``.

    Examples:
        >>> get_test("psi").threshold
        0.1
        >>> get_test("ks", "categorical")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vigil.errors.InvalidParameterError: Method 'ks' compares numeric columns, not ...
    """
    entry = CATALOG.get(method)
    if entry is None:
        names = ", ".join(sorted(CATALOG))
        raise InvalidParameterError(
            f"Unknown drift method {method!r}. Choose 'auto' or one of: {names}."
        )
    if kind is not None and FeatureKind(kind) not in entry.kinds:
        allowed = " and ".join(k.value for k in entry.kinds)
        raise InvalidParameterError(
            f"Method {method!r} compares {allowed} columns, not {FeatureKind(kind).value} ones."
        )
    return entry


def auto_method(
    kind: FeatureKind,
    reference: CategoricalSample | None = None,
    current: CategoricalSample | None = None,
) -> str:
    """The method ``auto`` chooses for a column.

    Args:
        kind: the column kind (numeric or categorical).
        reference: the prepared reference (categorical only).
        current: the prepared window (categorical only).

    Examples:
        >>> auto_method(FeatureKind.NUMERIC)
        'ks'
        >>> ref = CategoricalSample(["a", "b"] * 50)
        >>> auto_method(FeatureKind.CATEGORICAL, ref, CategoricalSample(["a"] * 9 + ["b"]))
        'fisher'
    """
    if kind is FeatureKind.NUMERIC:
        return "ks"
    if reference is None or current is None:
        return "chi2"
    table = binary_table(reference, current)
    if table is None:
        return "chi2"
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / max(table.sum(), 1)
    return "z" if expected.min() >= 5 else "fisher"
