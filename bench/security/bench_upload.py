"""Artifact upload bounds against a real ``vigil server``: a 20,000-member tar archive and
a 1 MB gzip tar bomb that expands to 1 GiB, with the default limits.

Run: ``PYTHONPATH=$PWD python bench/security/bench_upload.py``
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx

TAR = {"Content-Type": "application/x-tar"}


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, read in chunks (the bomb is never held in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def, override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def many_members(n: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(n):
            info = tarfile.TarInfo(f"f{i}.txt")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


def bomb(size: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=9) as tar:
        info = tarfile.TarInfo("weights.bin")
        info.size = size
        tar.addfile(info, io.BufferedReader(_Zeros(size), 1 << 20))
    return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vigil.cli.main",
            "server",
            "--home",
            str(home),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        client = httpx.Client(base_url=url, timeout=600)
        client.post(
            "/api/v1/models",
            json={"name": "m", "schema": {"task": "binary_classification", "features": []}},
        )
        for label, body in (
            ("20,000 members", many_members(20_000)),
            ("1 GiB gzip bomb", bomb(1 << 30)),
        ):
            t0 = time.monotonic()
            r = client.post(
                "/api/v1/models/m/versions/1/artifact",
                params={"filename": "d"},
                content=body,
                headers=TAR,
            )
            elapsed = time.monotonic() - t0
            print(
                f"{label} ({len(body):,} B): HTTP {r.status_code} in {elapsed:.2f} s, "
                f"{_folder_bytes(home / 'artifacts'):,} B left in artifacts/: "
                f"{r.json()['error']['message']}"
            )
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
