"""Batch drift tests: one per module, each with ``fit(reference)`` / ``compare(current)``.

Tests with a p-value: :class:`KolmogorovSmirnov` (``ks``), :class:`CramerVonMises`
(``cvm``), :class:`AndersonDarling` (``anderson``), :class:`ChiSquared` (``chi2``),
:class:`ProportionZ` (``z``), :class:`FisherExact` (``fisher``). Distances:
:class:`PopulationStabilityIndex` (``psi``), :class:`JensenShannon` (``jensenshannon``),
:class:`KullbackLeibler` (``kl``), :class:`Hellinger` (``hellinger``),
:class:`TotalVariation` (``tv``), :class:`Wasserstein` (``wasserstein``),
:class:`EnergyDistance` (``energy``). :data:`CATALOG` maps names to classes.
"""

from __future__ import annotations

from ._base import BatchTest, DriftTestResult, NotFittedError
from ._sample import CategoricalSample, NumericSample
from .anderson_darling import AndersonDarling
from .catalog import CATALOG, CatalogEntry, auto_method, get_test
from .chi_squared import ChiSquared
from .cramer_von_mises import CramerVonMises
from .energy import EnergyDistance
from .hellinger import Hellinger
from .jensen_shannon import JensenShannon
from .ks import KolmogorovSmirnov
from .kullback_leibler import KullbackLeibler
from .proportions import FisherExact, ProportionZ
from .psi import PopulationStabilityIndex
from .total_variation import TotalVariation
from .wasserstein import Wasserstein

__all__ = [
    "CATALOG",
    "AndersonDarling",
    "BatchTest",
    "CatalogEntry",
    "CategoricalSample",
    "ChiSquared",
    "CramerVonMises",
    "DriftTestResult",
    "EnergyDistance",
    "FisherExact",
    "Hellinger",
    "JensenShannon",
    "KolmogorovSmirnov",
    "KullbackLeibler",
    "NotFittedError",
    "NumericSample",
    "PopulationStabilityIndex",
    "ProportionZ",
    "TotalVariation",
    "Wasserstein",
    "auto_method",
    "get_test",
]
