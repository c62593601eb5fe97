"""An on-disk queue of batches that could not be delivered, replayed oldest first.

Each batch is one file, written atomically (temporary file, ``fsync``, ``os.replace``) so
a crash leaves either the whole batch or nothing. A file holds one JSON header line
(``{"model", "kind", "n", "gzip"}``) and then the request body. Names sort in write
order (nanosecond time, process id, a counter), across restarts too; several processes
may share a folder, because ingest is idempotent on ids a batch sent twice is harmless.
The total size is bounded: when a new batch does not fit, the oldest files are deleted
and their records counted as dropped.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from vigil.sdk.transport import GZIP_LEVEL, GZIP_MIN_BYTES

log = logging.getLogger("vigil.sdk")

_SUFFIX = ".batch"
_TMP_PREFIX = ".tmp-"


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """One batch read back from the spool."""

    path: Path
    model: str
    kind: str
    n: int
    body: bytes


class Spool:
    """A folder of pending batches.

    Args:
        directory: where the files live; created on the first write.
        max_bytes: the most the folder may hold; older batches give way to newer ones.

    Examples:
        >>> import tempfile
        >>> tmp = tempfile.TemporaryDirectory()
        >>> spool = Spool(tmp.name, max_bytes=1 << 20)
        >>> spool.put("m", "predictions", 2, b'{"records": [{}, {}]}')
        0
        >>> [(b.model, b.kind, b.n) for b in spool.batches()]
        [('m', 'predictions', 2)]
        >>> tmp.cleanup()
    """

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int = 256 << 20) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._counter = itertools.count()
        self._cleaned = False

    def _files(self) -> list[tuple[str, int]]:
        """(name, size) of every complete batch file, oldest first."""
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        files = []
        for entry in entries:
            if entry.name.endswith(_SUFFIX) and not entry.name.startswith("."):
                with contextlib.suppress(FileNotFoundError):
                    files.append((entry.name, entry.stat().st_size))
        files.sort()
        return files

    def _clean_temporaries(self) -> None:
        """Delete temporary files an earlier process left behind when it died mid-write."""
        self._cleaned = True
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return
        mine = f"{_TMP_PREFIX}{os.getpid()}-"
        for entry in entries:
            if entry.name.startswith(_TMP_PREFIX) and not entry.name.startswith(mine):
                with contextlib.suppress(OSError):
                    if time.time() - entry.stat().st_mtime > 60:
                        os.unlink(entry.path)

    def __len__(self) -> int:
        return len(self._files())

    @property
    def size_bytes(self) -> int:
        """The total size of the pending batches."""
        return sum(size for _, size in self._files())

    def put(self, model: str, kind: str, n: int, body: bytes) -> int:
        """Write one batch; return how many records were lost to keep the size bound.

        Older batches give way to a new one; a batch larger than the whole bound is not
        written and its own ``n`` records are lost.

        Raises:
            OSError: when the file cannot be written (the caller counts the batch lost).
        """
        gz = len(body) > GZIP_MIN_BYTES
        if gz:
            body = gzip.compress(body, GZIP_LEVEL)
        header = orjson.dumps({"model": model, "kind": kind, "n": n, "gzip": gz})
        data = header + b"\n" + body
        if len(data) > self.max_bytes:
            log.warning("vigil spool: a batch of %d bytes exceeds the %d-byte bound; "
                        "dropped its %d records", len(data), self.max_bytes, n)
            return n
        dropped = self._make_room(len(data))
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self._cleaned:
            self._clean_temporaries()
        seq = next(self._counter)
        name = f"{time.time_ns():020d}-{os.getpid():08d}-{seq:08d}{_SUFFIX}"
        tmp = self.directory / f"{_TMP_PREFIX}{os.getpid()}-{seq}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.directory)
        return dropped

    def _make_room(self, incoming: int) -> int:
        files = self._files()
        total = sum(size for _, size in files)
        dropped = 0
        for name, size in files:
            if total + incoming <= self.max_bytes:
                break
            path = self.directory / name
            n = _count_of(path)
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue  # another process replayed it meanwhile
            total -= size
            dropped += n
            log.warning("vigil spool is full (%d bytes): dropped %d records of %s",
                        self.max_bytes, n, name)
        return dropped

    def batches(self) -> list[SpooledBatch]:
        """Every pending batch, oldest first (unreadable files are deleted and skipped)."""
        out = []
        for name, _ in self._files():
            batch = self.read(self.directory / name)
            if batch is not None:
                out.append(batch)
        return out

    def oldest(self) -> SpooledBatch | None:
        """The oldest pending batch, or None when the spool is empty."""
        for name, _ in self._files():
            batch = self.read(self.directory / name)
            if batch is not None:
                return batch
        return None

    def read(self, path: Path) -> SpooledBatch | None:
        """Read one file; a file that vanished or is corrupt gives None (and is removed)."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            header_bytes, body = data.split(b"\n", 1)
            header = orjson.loads(header_bytes)
            if header["gzip"]:
                body = gzip.decompress(body)
            return SpooledBatch(path, header["model"], header["kind"], int(header["n"]), body)
        except (ValueError, KeyError, TypeError, OSError, EOFError) as exc:
            log.error("vigil spool file %s is corrupt (%s); removing it", path, exc)
            self.remove(path)
            return None

    def remove(self, path: Path) -> None:
        """Delete a replayed batch (already gone is fine)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _count_of(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return int(orjson.loads(fh.readline())["n"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
