"""vigil: monitor and maintain machine-learning models in production.

The public API is re-exported here and loaded lazily, so ``import vigil`` stays light
inside an inference service (no FastAPI, SQLAlchemy, scipy or scikit-learn until used).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vigil._version import __version__

if TYPE_CHECKING:
    from vigil.drift import DriftDetector, DriftReport, detect_drift
    from vigil.errors import VigilError
    from vigil.profile import Profile
    from vigil.schema import Feature, FeatureKind, ModelSchema, Task
    from vigil.sdk import Monitor

_LAZY: dict[str, str] = {
    "DriftDetector": "vigil.drift",
    "DriftReport": "vigil.drift",
    "Feature": "vigil.schema",
    "FeatureKind": "vigil.schema",
    "ModelSchema": "vigil.schema",
    "Monitor": "vigil.sdk",
    "Profile": "vigil.profile",
    "Task": "vigil.schema",
    "VigilError": "vigil.errors",
    "detect_drift": "vigil.drift",
}

__all__ = [
    "DriftDetector",
    "DriftReport",
    "Feature",
    "FeatureKind",
    "ModelSchema",
    "Monitor",
    "Profile",
    "Task",
    "VigilError",
    "__version__",
    "detect_drift",
]


# subpackages reachable as attributes after a plain ``import vigil`` (e.g. vigil.registry.load)
_SUBPACKAGES = frozenset({"drift", "profile", "registry", "schema", "sdk"})


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return _import(f"vigil.{name}", name)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vigil' has no attribute {name!r}")
    value = getattr(_import(module, name), name)
    globals()[name] = value
    return value


def _import(module: str, name: str) -> Any:
    """Import ``module``; on the SDK alone (``pip install vigil``), a missing statistics
    package says which extra brings it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "vigil").startswith("vigil"):
            raise
        raise ModuleNotFoundError(
            f"vigil.{name} needs {exc.name}, which the SDK alone does not install: "
            f'pip install "vigil[server]"',
            name=exc.name,
        ) from None


def __dir__() -> list[str]:
    return __all__
