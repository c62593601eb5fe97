"""Mergeable profiles of tables on Apache DataSketches, and drift between two profiles.

A :class:`Profile` keeps, per column, counts, nulls, moments, KLL quantiles, frequent
items and a distinct-count sketch. Profiles built anywhere (SDK, ingest, a Spark
partition) merge into the profile of all their rows and travel as compact bytes.
:func:`profile_drift` compares two profiles without the raw data.
"""

from __future__ import annotations

from vigil.profile.column import ColumnProfile
from vigil.profile.drift import ColumnDrift, ProfileDrift, profile_drift
from vigil.profile.profile import Profile
from vigil.profile.serde import ProfileFormatError

__all__ = [
    "ColumnDrift",
    "ColumnProfile",
    "Profile",
    "ProfileDrift",
    "ProfileFormatError",
    "profile_drift",
]
