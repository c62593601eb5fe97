"""Scan serialized Python objects (pickle, joblib, PyTorch zips) before they are loaded.

:func:`scan_artifact` runs picklescan over every file that is a pickle (by extension or
magic bytes) or an archive that may hold one, and adds what picklescan leaves out: a file
picklescan cannot parse is only logged by it and counted as clean, so each pickle stream
is also walked opcode by opcode here and one that does not parse is reported as
*unparsed*. Dangerous imports (``os.system``, ``builtins.eval``, ...) are refused unless
named in ``allow``; unparsed files are refused unless ``allow_unparsed`` is set.

Examples:
    >>> import pickle, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ok.pkl"
    >>> _ = path.write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    >>> report = scan_artifact(path)
    >>> report.scanned, report.dangerous, report.unparsed
    (['ok.pkl'], [], [])
"""

from __future__ import annotations

import io
import logging
import pickletools
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from vigil.registry.errors import UnsafeArtifactError

# Files with these extensions claim to be pickles: one that does not parse is refused.
# Others (.bin, .pt, .ckpt, ...) are scanned when they are zip archives (PyTorch) or start
# with a pickle protocol header.
PICKLE_EXTENSIONS = frozenset({".pkl", ".pickle", ".joblib"})


@dataclass
class ScanReport:
    """What a scan found: files scanned, dangerous and unknown imports, unparsed files."""

    scanned: list[str] = field(default_factory=list)
    dangerous: list[str] = field(default_factory=list)  # "file: module.name"
    suspicious: list[str] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)  # "file: reason"
    allowed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.dangerous and not self.unparsed

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "scanned": self.scanned,
            "dangerous": self.dangerous,
            "suspicious": self.suspicious,
            "unparsed": self.unparsed,
            "allowed": self.allowed,
        }

    def check(self, what: str) -> None:
        """Raise :class:`UnsafeArtifactError` unless the scan is clean."""
        if self.dangerous:
            raise UnsafeArtifactError(
                f"{what} imports dangerous code when unpickled: {', '.join(self.dangerous)}. "
                "It is refused; allow a specific import only if you trust it "
                "(allow=['module.name'], or --allow module.name on the command line).",
                details=self.to_dict(),
            )
        if self.unparsed:
            raise UnsafeArtifactError(
                f"{what} holds serialized objects that could not be scanned: "
                f"{', '.join(self.unparsed)}. An unscannable pickle is refused "
                "(allow_unparsed=True or --allow-unparsed, only for files you trust).",
                details=self.to_dict(),
            )


def _is_pickle(path: Path, name: str) -> bool:
    """Whether ``path`` (shown as ``name``, whose extension counts) claims to be a pickle."""
    if Path(name).suffix.lower() in PICKLE_EXTENSIONS:
        return True
    with open(path, "rb") as f:
        head = f.read(2)
    return len(head) == 2 and head[0] == 0x80 and head[1] <= 5


def _parse_error(stream: IO[bytes]) -> str | None:
    """Walk every pickle in ``stream``; the first parse error, or None."""
    count = 0
    try:
        while True:
            for _ in pickletools.genops(stream):
                pass
            count += 1
            if not stream.read(1):
                return None
            stream.seek(-1, io.SEEK_CUR)
    except Exception as exc:  # genops raises ValueError, EOFError, struct errors...
        return f"not a complete pickle stream after {count} pickle(s) ({exc})"


def scan_artifact(
    path: str | Path, *, allow: Iterable[str] = (), names: dict[Path, str] | None = None
) -> ScanReport:
    """Scan a file or every file under a directory.

    Args:
        path: the file or directory.
        allow: imports (``"module.name"``) to accept even though picklescan calls them
            dangerous.
        names: display names per file (defaults to paths relative to ``path``).
    """
    root = Path(path)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return scan_files(
        [
            (
                (names or {}).get(file)
                or (file.name if file == root else file.relative_to(root).as_posix()),
                file,
            )
            for file in files
        ],
        allow=allow,
    )


def scan_files(files: Iterable[tuple[str, Path]], *, allow: Iterable[str] = ()) -> ScanReport:
    """Scan ``(name, path)`` pairs: the name (its extension, and in the report) may differ
    from the path, e.g. for content-addressed blobs scanned at register."""
    from picklescan.scanner import SafetyLevel, scan_bytes

    allowed = set(allow)
    report = ScanReport()
    quiet = logging.getLogger("picklescan")
    level, quiet.disabled = quiet.disabled, True  # it logs parse errors we report ourselves
    try:
        for name, file in files:
            archive = zipfile.is_zipfile(file)
            if not (archive or _is_pickle(file, name)):
                continue
            report.scanned.append(name)
            with open(file, "rb") as f:
                result = scan_bytes(f, str(file), ".zip" if archive else ".pkl")
            for g in result.globals:
                ref = f"{g.module}.{g.name}"
                if g.safety is SafetyLevel.Dangerous:
                    (report.allowed if ref in allowed else report.dangerous).append(
                        f"{name}: {ref}"
                    )
                elif g.safety is SafetyLevel.Suspicious:
                    report.suspicious.append(f"{name}: {ref}")
            problems = _archive_parse_errors(file) if archive else _file_parse_error(file)
            report.unparsed.extend(f"{name}: {p}" for p in problems)
            if result.scan_err and not problems:
                report.unparsed.append(f"{name}: picklescan could not finish the scan")
    finally:
        quiet.disabled = level
    return report


def _file_parse_error(file: Path) -> list[str]:
    with open(file, "rb") as f:
        error = _parse_error(f)
    return [error] if error else []


def _archive_parse_errors(file: Path) -> list[str]:
    out = []
    try:
        with zipfile.ZipFile(file) as zf:
            for info in zf.infolist():
                if Path(info.filename).suffix.lower() in (".pkl", ".pickle"):
                    with zf.open(info) as member:
                        error = _parse_error(io.BufferedReader(member))  # type: ignore[type-var]  # ZipExtFile is a raw stream at run time
                    if error:
                        out.append(f"{info.filename}: {error}")
    except (zipfile.BadZipFile, OSError) as exc:
        out.append(f"unreadable archive ({exc})")
    return out
