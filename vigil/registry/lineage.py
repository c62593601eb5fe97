"""Lineage of a version: code commit, training-data fingerprints, DVC-recorded hashes.

Examples:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> text = "outs:\\n- md5: 3f2a\\n  size: 10\\n  path: train.csv\\n"
    >>> _ = (d / "train.csv.dvc").write_text(text)
    >>> build_lineage({"code_commit": "abc123"}, [], [d / "train.csv.dvc"])["dvc"][0]["md5"]
    '3f2a'
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vigil.errors import InvalidParameterError
from vigil.registry.artifacts import sha256_file
from vigil.registry.errors import ArtifactNotFoundError

_DVC_HASH_KEYS = ("md5", "etag", "checksum", "sha256")


def fingerprint(path: str | Path) -> dict[str, Any]:
    """``{"path", "sha256", "size"}`` of a data file, hashed in chunks."""
    p = Path(path)
    if not p.is_file():
        raise ArtifactNotFoundError(f"The data file {str(p)!r} does not exist.")
    digest, size = sha256_file(p)
    return {"path": p.name, "sha256": digest, "size": size}


def dvc_outputs(path: str | Path) -> list[dict[str, Any]]:
    """The outputs a DVC ``.dvc`` file records: ``[{path, md5 (or other hash), size}]``."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ArtifactNotFoundError(f"The DVC file {str(p)!r} does not exist.")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidParameterError(f"{str(p)!r} is not a valid .dvc file: {exc}") from None
    outs = doc.get("outs") if isinstance(doc, dict) else None
    if not isinstance(outs, list) or not outs:
        raise InvalidParameterError(f"{str(p)!r} has no 'outs' list; is it a .dvc file?")
    result = []
    for out in outs:
        if not isinstance(out, dict) or "path" not in out:
            raise InvalidParameterError(f"{str(p)!r}: every entry of 'outs' needs a 'path'.")
        entry = {"path": str(out["path"]), "dvc_file": p.name}
        for key in (*_DVC_HASH_KEYS, "size", "nfiles", "hash"):
            if key in out:
                entry[key] = out[key]
        if not any(k in entry for k in _DVC_HASH_KEYS):
            raise InvalidParameterError(f"{str(p)!r}: output {out['path']!r} records no hash.")
        result.append(entry)
    return result


def build_lineage(
    lineage: dict[str, Any] | None, data: Iterable[str | Path], dvc: Iterable[str | Path]
) -> dict[str, Any] | None:
    """The lineage to store: what was given plus data fingerprints and DVC hashes."""
    out = dict(lineage or {})
    fingerprints = [fingerprint(p) for p in data]
    if fingerprints:
        out["data"] = [*out.get("data", []), *fingerprints]
    outs = [o for p in dvc for o in dvc_outputs(p)]
    if outs:
        out["dvc"] = [*out.get("dvc", []), *outs]
    return out or None
