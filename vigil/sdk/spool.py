"""An on-disk queue of batches that could not be delivered, replayed oldest first.

Each Monitor spools into a folder of its own endpoint and model,
``<root>/<model>-<key>/`` (:func:`spool_directory`), where ``key`` is a short hash of the
normalised endpoint (:func:`normalise_endpoint`) and the model; an ``endpoint.json`` in
the folder names both. Batches spooled for one server are therefore replayed only to
that server, never to whichever endpoint the next Monitor of the same model names.

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
import hashlib
import itertools
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from vigil.sdk.transport import GZIP_LEVEL, GZIP_MIN_BYTES

log = logging.getLogger("vigil.sdk")

_SUFFIX = ".batch"
_TMP_PREFIX = ".tmp-"
META_FILE = "endpoint.json"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_endpoint(endpoint: str) -> str:
    """The endpoint as one canonical string: the same server always gives the same text.

    Scheme and host are lower-cased, default ports made explicit, trailing slashes and
    passwords dropped (a rotated password must not orphan a spool), and a relative SQLite
    path made absolute (it names a different file in another working directory).

    Examples:
        >>> normalise_endpoint("HTTP://Example.com/")
        'http://example.com:80'
        >>> normalise_endpoint("https://vigil.internal:8443/base/")
        'https://vigil.internal:8443/base'
        >>> normalise_endpoint("postgresql+psycopg://me:secret@db:5432/vigil")
        'postgresql+psycopg://me@db:5432/vigil'
    """
    text = endpoint.strip()
    if text.startswith("sqlite:"):
        prefix, sep, path = text.partition(":///")
        if sep and path and not path.startswith("/") and ":memory:" not in path:
            return f"{prefix}:///{Path(path).absolute()}"
        return text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # not a URL at all: its text is the key
        return text
    if not parts.scheme:
        return text
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = port if port is not None else _DEFAULT_PORTS.get(scheme)
    user = f"{parts.username}@" if parts.username else ""
    netloc = f"{user}{host}" + (f":{port}" if port is not None else "")
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}{query}"


def spool_key(endpoint: str, model: str) -> str:
    """12 hex digits of SHA-256 over the normalised endpoint and the model name."""
    text = f"{normalise_endpoint(endpoint)}\n{model}".encode()
    return hashlib.sha256(text).hexdigest()[:12]


def spool_directory(root: str | os.PathLike[str], endpoint: str, model: str) -> Path:
    """The folder under ``root`` that holds the spool of ``model`` sending to ``endpoint``.

    Examples:
        >>> d = spool_directory("/var/spool/vigil", "http://127.0.0.1:8765/", "churn")
        >>> d == spool_directory("/var/spool/vigil", "http://127.0.0.1:8765", "churn")
        True
        >>> d == spool_directory("/var/spool/vigil", "http://127.0.0.1:9000", "churn")
        False
        >>> d.name.startswith("churn-"), len(d.name)
        (True, 18)
    """
    return Path(root) / f"{safe_name(model)}-{spool_key(endpoint, model)}"


def safe_name(name: str) -> str:
    """``name`` with every character but letters, digits, ``.``, ``_``, ``-`` replaced."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100] or "model"


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
        owner: written to ``endpoint.json`` in the folder at the first write (e.g. the
            endpoint and model whose batches it holds), so a reader can tell whose
            records these are.

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

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 256 << 20,
        owner: dict[str, str] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.owner = owner
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
            log.warning(
                "vigil spool: a batch of %d bytes exceeds the %d-byte bound; "
                "dropped its %d records",
                len(data),
                self.max_bytes,
                n,
            )
            return n
        dropped = self._make_room(len(data))
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self._cleaned:
            self._clean_temporaries()
            if self.owner is not None and not (self.directory / META_FILE).exists():
                self._write_atomic(META_FILE, orjson.dumps(self.owner, option=orjson.OPT_INDENT_2))
        seq = next(self._counter)
        self._write_atomic(f"{time.time_ns():020d}-{os.getpid():08d}-{seq:08d}{_SUFFIX}", data)
        return dropped

    def _write_atomic(self, name: str, data: bytes) -> None:
        tmp = self.directory / f"{_TMP_PREFIX}{os.getpid()}-{next(self._counter)}"
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
            log.warning(
                "vigil spool is full (%d bytes): dropped %d records of %s", self.max_bytes, n, name
            )
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
