"""Time-ordered prediction ids in the UUIDv7 layout (RFC 9562), made without a lock.

An id is 128 bits: the Unix time in milliseconds (48 bits), the version ``7`` (4 bits),
a 32-bit random per-process node split around the variant bits ``10``, then a 42-bit
sequence number. The sequence is one process-wide ``itertools.count`` started at a random
value; ``next()`` on it is atomic under the GIL, so two threads never get the same number.
Hence, without a lock:

* ids are unique within a process, and across processes (random node and start);
* ids made by one thread are strictly increasing (their millisecond never goes back:
  :func:`new_id` clamps a clock step backwards to the last millisecond it saw);
* the string sorts like the time it encodes, so ids are time-ordered.

The text is cached per (millisecond, 4,096 sequence numbers), so most ids cost one
``next()``, one comparison and one string concatenation. ``uuid.uuid7`` only exists from
Python 3.14.
"""

from __future__ import annotations

import itertools
import os
import time

_SEQ_BITS = 42
_SEQ_MASK = (1 << _SEQ_BITS) - 1
_NODE = int.from_bytes(os.urandom(4), "big")
# Start in the lower half of the sequence space so that wrapping takes 2**41 ids.
_seq = itertools.count(int.from_bytes(os.urandom(6), "big") & (_SEQ_MASK >> 1))
_HEX3 = tuple(f"{i:03x}" for i in range(4096))
_NODE_TEXT = (
    f"{_NODE >> 20:03x}-{0x8000 | ((_NODE >> 6) & 0x3FFF):04x}-"  # 12 bits, variant + 14 bits
)
_NODE_LOW = (_NODE & 0x3F) << 30  # the last 6 node bits lead the 48-bit final group
_cache: tuple[int, int, str] = (-1, -1, "")
_last_ms = 0


def _head(ms: int, hi: int) -> str:
    h = f"{ms & 0xFFFFFFFFFFFF:012x}"
    return f"{h[:8]}-{h[8:]}-7{_NODE_TEXT}{_NODE_LOW | hi:09x}"


def _pack(ms: int) -> str:
    global _cache
    seq = next(_seq) & _SEQ_MASK
    hi = seq >> 12
    cached = _cache
    if cached[0] != ms or cached[1] != hi:
        cached = (ms, hi, _head(ms, hi))
        _cache = cached  # one reference swap: safe to race
    return cached[2] + _HEX3[seq & 0xFFF]


def new_id() -> str:
    """A new time-ordered id for the current time.

    Examples:
        >>> a, b = new_id(), new_id()
        >>> a < b, len(a), a[14]
        (True, 36, '7')
    """
    global _last_ms
    ms = time.time_ns() // 1_000_000
    if ms < _last_ms:
        ms = _last_ms
    else:
        _last_ms = ms
    return _pack(ms)


def id_at(ts: float) -> str:
    """A new id that encodes the Unix time ``ts`` (seconds), e.g. the start of a call.

    The time is taken as given (a back-filled record keeps its own time), so ids made
    from out-of-order times sort by time, not by creation order; they are still unique.
    """
    return _pack(int(ts * 1000))


def id_time(pid: str) -> float:
    """The Unix time (seconds, millisecond precision) encoded in a time-ordered id.

    Examples:
        >>> abs(id_time(id_at(1700000000.123)) - 1700000000.123) < 1e-9
        True
    """
    return int(pid[:8] + pid[9:13], 16) / 1000
