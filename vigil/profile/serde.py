"""The versioned binary format of a profile.

Layout (little-endian)::

    b"VGPF"            magic, 4 bytes
    u8                 format version (1)
    u32                header length H
    H bytes            JSON header (orjson): rows, sketch parameters, per-column scalars
                       and, per column, the byte length of each serialized sketch
    sketch bytes       concatenated in header order (DataSketches' own formats)
    u32                CRC-32 of everything before it

Readers reject a wrong magic, an unknown version, a bad checksum, a truncated body and a
header that does not describe the body, each with :class:`ProfileFormatError`.
"""

from __future__ import annotations

import struct
import zlib

import orjson

from vigil.errors import InvalidParameterError
from vigil.profile.column import FREQ_LG_MAX, HLL_LG_K, KLL_K, ColumnProfile

MAGIC = b"VGPF"
VERSION = 1
_PARAMS = {"kll_k": KLL_K, "hll_lg_k": HLL_LG_K, "freq_lg_max": FREQ_LG_MAX}
_BLOB_ORDER = ("hll", "kll", "freq")


class ProfileFormatError(InvalidParameterError):
    """Bytes given to :meth:`Profile.from_bytes` are not a profile this vigil can read."""

    code = "invalid_profile"


def dump(n_rows: int, columns: dict[str, ColumnProfile]) -> bytes:
    """Serialize a profile's rows and columns."""
    metas = []
    body = bytearray()
    for col in columns.values():
        fields, blobs = col.state()
        fields["blobs"] = {k: len(blobs[k]) for k in _BLOB_ORDER if k in blobs}
        for k in _BLOB_ORDER:
            if k in blobs:
                body += blobs[k]
        metas.append(fields)
    header = orjson.dumps({"n_rows": n_rows, "params": _PARAMS, "columns": metas})
    out = bytearray(MAGIC)
    out += struct.pack("<BI", VERSION, len(header))
    out += header
    out += body
    out += struct.pack("<I", zlib.crc32(out))
    return bytes(out)


def load(data: bytes) -> tuple[int, dict[str, ColumnProfile]]:
    """Parse :func:`dump`'s output; raise :class:`ProfileFormatError` on anything else."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProfileFormatError(f"A profile must be bytes. Got {type(data).__name__} instead.")
    data = bytes(data)
    if len(data) < 13 or data[:4] != MAGIC:
        raise ProfileFormatError(
            "These bytes are not a vigil profile (no 'VGPF' header); pass the output of "
            "Profile.to_bytes() or a file written by 'vigil profile'."
        )
    version, header_len = struct.unpack_from("<BI", data, 4)
    if version != VERSION:
        raise ProfileFormatError(
            f"This profile uses format version {version}; this vigil reads version "
            f"{VERSION}. Upgrade vigil or rebuild the profile."
        )
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) != crc:
        raise ProfileFormatError("The profile is corrupt: its checksum does not match.")
    start = 9 + header_len
    try:
        header = orjson.loads(data[9:start])
        if header["params"] != _PARAMS:
            raise ProfileFormatError(
                f"The profile was built with sketch parameters {header['params']}; this "
                f"vigil uses {_PARAMS} and cannot merge or read it."
            )
        columns: dict[str, ColumnProfile] = {}
        pos = start
        end = len(data) - 4
        for meta in header["columns"]:
            blobs: dict[str, bytes] = {}
            for key, size in meta["blobs"].items():
                if key not in _BLOB_ORDER or not 0 <= size <= end - pos:
                    raise ValueError("sketch lengths do not match the body")
                blobs[key] = data[pos : pos + size]
                pos += size
            col = ColumnProfile.from_state(meta, blobs)
            columns[col.name] = col
        n_rows = int(header["n_rows"])
        if pos != end:
            raise ValueError("trailing bytes after the last sketch")
        if any(c.count + c.null_count != n_rows for c in columns.values()):
            raise ValueError("column counts do not add up to the row count")
    except ProfileFormatError:
        raise
    except Exception as exc:  # malformed header or sketch: report it as one error
        raise ProfileFormatError(f"The profile is malformed: {exc}.") from None
    return n_rows, columns
