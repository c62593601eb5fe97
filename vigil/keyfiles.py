"""Private key files made once, safely under concurrency.

Two threads or processes that need the same key at the same moment (two alert actions
signing download links, two replicas starting) must end up using one key. A key is
written in full to a private temporary file and then hard-linked to its final name,
which fails if the name exists: the loser reads the winner's key, and nobody ever reads
a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def create_once(path: Path, content: bytes) -> bytes:
    """Write ``content`` to ``path`` (mode 0600) unless it exists; return what it holds."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:  # mkstemp makes the file 0600
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_bytes()
        return content
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
