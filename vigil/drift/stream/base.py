"""The shared contract of vigil's online drift detectors (adapters around River's).

A detector is fed one value at a time (:meth:`StreamDetector.update`) or an array
(:meth:`StreamDetector.update_many`), answers through the read-only
:attr:`~StreamDetector.drift_detected`, and can be saved and restored exactly
(:meth:`~StreamDetector.to_state`, :meth:`~StreamDetector.from_state`) so a server can keep
it between windows. Parameters are validated once, at construction.

State format (little-endian): ``b"VGSD"``, a u8 format version, a u32 header length, a
JSON header (detector name, parameters, values seen, River version) and the pickled River
detector. Restore state only from a source you trust, as with any pickle.
"""

from __future__ import annotations

import importlib
import math
import pickle
import struct
from collections.abc import Callable
from typing import Any, ClassVar, Self

import numpy as np
import orjson

from vigil.errors import InvalidParameterError

MAGIC = b"VGSD"
STATE_VERSION = 1


class DetectorStateError(InvalidParameterError):
    """Bytes given to ``from_state`` are not a saved detector this vigil can restore."""

    code = "invalid_detector_state"


class Param:
    """One constructor parameter: its default, a check and the phrase naming what is valid.

    Args:
        default: River's default value.
        check: returns True for a valid value.
        expected: completes "must be ..." in the error message.
        kind: ``int``, ``float``, ``bool``, ``str`` or ``"int?"`` (an int or None).
    """

    __slots__ = ("check", "default", "expected", "kind")

    def __init__(self, default: Any, check: Callable[[Any], bool], expected: str, kind: Any):
        self.default = default
        self.check = check
        self.expected = expected
        self.kind = kind

    def accepts(self, value: Any) -> bool:
        if self.kind == "int?":
            if value is None:
                return True
            kind_ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind is float:
            kind_ok = isinstance(value, int | float) and not isinstance(value, bool)
            kind_ok = kind_ok and math.isfinite(value)
        elif self.kind is int:
            kind_ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            kind_ok = isinstance(value, self.kind)
        return kind_ok and bool(self.check(value))


class StreamDetector:
    """Base class: a River drift detector behind a validated, resumable, batch-friendly API.

    Subclasses set :attr:`name`, :attr:`binary` (inputs are 0/1 errors rather than real
    values), :attr:`river_class` (``"module:Class"``) and :attr:`params_spec`; they may add
    cross-parameter checks in :meth:`_check`.
    """

    name: ClassVar[str] = ""
    binary: ClassVar[bool] = False
    river_class: ClassVar[str] = ""
    params_spec: ClassVar[dict[str, Param]] = {}

    __slots__ = ("_detector", "_n_seen", "_params", "_river_type")

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.params_spec))
        if unknown:
            allowed = ", ".join(sorted(self.params_spec)) or "none"
            raise InvalidParameterError(
                f"{type(self).__name__} got unknown parameter(s) {unknown}. Allowed: {allowed}."
            )
        resolved = {k: spec.default for k, spec in self.params_spec.items()}
        resolved.update(params)
        for key, value in resolved.items():
            spec = self.params_spec[key]
            if not spec.accepts(value):
                raise InvalidParameterError(
                    f"The {key!r} parameter of {type(self).__name__} must be {spec.expected}. "
                    f"Got {value!r} instead."
                )
        self._check(resolved)
        module, _, cls = self.river_class.partition(":")
        self._river_type = getattr(importlib.import_module(module), cls)
        self._params = resolved
        self._detector = self._river_type(**resolved)
        self._n_seen = 0

    def _check(self, params: dict[str, Any]) -> None:
        """Cross-parameter checks; raise :class:`InvalidParameterError` on a bad mix."""

    # ------------------------------------------------------------------ feeding
    def update(self, x: float) -> Self:
        """Feed one value (a 0/1 error for binary detectors) and return the detector."""
        if self.binary:
            if x not in (0, 1) or isinstance(x, str):
                raise InvalidParameterError(
                    f"{type(self).__name__} takes 0 (correct) or 1 (error). Got {x!r} instead."
                )
            self._detector.update(bool(x))
        else:
            try:
                value = float(x)
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value) or isinstance(x, str):
                raise InvalidParameterError(
                    f"{type(self).__name__} takes finite numbers. Got {x!r} instead."
                )
            self._detector.update(value)
        self._n_seen += 1
        return self

    def update_many(self, values: Any) -> list[int]:
        """Feed an array in order; return the indices at which drift was detected.

        The whole array is validated before any value is fed, so a bad value leaves the
        detector unchanged.
        """
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"{type(self).__name__}.update_many takes a 1-D array of numbers."
            ) from None
        if arr.ndim != 1:
            raise InvalidParameterError(
                f"{type(self).__name__}.update_many takes a 1-D array. Got shape {arr.shape}."
            )
        if self.binary:
            bad = ~((arr == 0) | (arr == 1))
            items: list[Any] = (arr == 1).tolist()
        else:
            bad = ~np.isfinite(arr)
            items = arr.tolist()
        if bad.any():
            i = int(np.argmax(bad))
            what = "0 (correct) or 1 (error)" if self.binary else "finite numbers"
            raise InvalidParameterError(
                f"{type(self).__name__} takes {what}. Got {arr[i]!r} at index {i}; nothing was fed."
            )
        det = self._detector
        update = det.update
        hits = []
        for i, v in enumerate(items):
            update(v)
            if det.drift_detected:
                hits.append(i)
        self._n_seen += len(items)
        return hits

    def reset(self) -> None:
        """Forget everything seen; keep the parameters."""
        self._detector = self._river_type(**self._params)
        self._n_seen = 0

    # ------------------------------------------------------------------ reading
    @property
    def drift_detected(self) -> bool:
        """Whether the last value fed completed a drift."""
        return bool(self._detector.drift_detected)

    @property
    def warning_detected(self) -> bool:
        """Whether the last value fed is in the warning zone (False if unsupported)."""
        return bool(getattr(self._detector, "warning_detected", False))

    @property
    def n_seen(self) -> int:
        """Values fed since construction or the last :meth:`reset`."""
        return self._n_seen

    @property
    def params(self) -> dict[str, Any]:
        """The resolved parameters (a copy)."""
        return dict(self._params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ state
    def to_state(self) -> bytes:
        """The detector's full state; :meth:`from_state` restores it exactly."""
        import river

        header = orjson.dumps(
            {
                "detector": self.name,
                "params": self._params,
                "n_seen": self._n_seen,
                "river": river.__version__,
            }
        )
        body = pickle.dumps(self._detector, protocol=pickle.HIGHEST_PROTOCOL)
        return MAGIC + struct.pack("<BI", STATE_VERSION, len(header)) + header + body

    @classmethod
    def from_state(cls, data: bytes) -> StreamDetector:
        """Restore a detector saved by :meth:`to_state`.

        Called on :class:`StreamDetector` it restores any detector; called on a subclass it
        also checks the saved detector is of that kind.

        Raises:
            DetectorStateError: the bytes are not a saved detector, come from another
                format version, or hold a different detector than asked for.
        """
        from vigil.drift.stream.registry import DETECTORS

        if not isinstance(data, bytes | bytearray) or bytes(data[:4]) != MAGIC or len(data) < 9:
            raise DetectorStateError(
                "These bytes are not a saved vigil detector (no 'VGSD' header); pass the "
                "output of to_state()."
            )
        version, size = struct.unpack_from("<BI", data, 4)
        if version != STATE_VERSION:
            raise DetectorStateError(
                f"The detector state uses format version {version}; this vigil reads "
                f"version {STATE_VERSION}."
            )
        try:
            header = orjson.loads(bytes(data[9 : 9 + size]))
            target = DETECTORS[header["detector"]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise DetectorStateError("The detector state is malformed: bad header.") from None
        if cls is not StreamDetector and target is not cls:
            raise DetectorStateError(
                f"The state holds a {target.__name__}, not a {cls.__name__}. "
                "Use StreamDetector.from_state to restore any detector."
            )
        out = target(**header["params"])
        try:
            detector = pickle.loads(bytes(data[9 + size :]))
        except Exception as exc:  # any unpickling failure means corrupt state
            raise DetectorStateError(f"The detector state is malformed: {exc}.") from None
        if not isinstance(detector, out._river_type):
            raise DetectorStateError(
                f"The detector state is malformed: it holds a {type(detector).__name__}."
            )
        out._detector = detector
        out._n_seen = int(header["n_seen"])
        return out


def unit_open(v: float) -> bool:
    """True for a value in (0, 1)."""
    return 0.0 < v < 1.0


def positive(v: float) -> bool:
    """True for a value above zero."""
    return v > 0
