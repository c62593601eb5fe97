"""Artifact uploads attacked: oversized bodies, compression bombs, archives with too many
members, clashing names and stalled senders — each a 4xx, none a 500, nothing left on
disk."""

from __future__ import annotations

import gzip
import io
import socket
import tarfile
import time
from pathlib import Path

import pytest
from support.records import SCHEMA

BASE = "/api/v1/models/churn/versions"
TAR = {"Content-Type": "application/x-tar"}
OCTET = {"Content-Type": "application/octet-stream"}


def _tar(entries: list[tuple[str, bytes | None]], compress: bool = False) -> bytes:
    """A tar archive of (name, data) entries; data None makes a folder."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if compress else "w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class _Zeros(io.RawIOBase):
    """``size`` zero bytes read in chunks (a bomb's payload without holding it in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def _bomb(size: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=9) as tar:
        info = tarfile.TarInfo("weights.bin")
        info.size = size
        tar.addfile(info, io.BufferedReader(_Zeros(size)))
    return buf.getvalue()


def _leftovers(home: Path) -> list[str]:
    tmp = home / "artifacts" / "tmp"
    return [str(p) for p in tmp.rglob("*")] if tmp.exists() else []


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path


def _api(server_factory, **settings):
    client = server_factory(auth="off", **settings)
    assert (
        client.post("/api/v1/models", json={"name": "churn", "schema": SCHEMA}).status_code == 201
    )
    return client


def test_an_oversized_upload_is_413_and_leaves_nothing(server_factory, home):
    api = _api(server_factory, max_artifact_bytes=64 * 1024)
    err = _error(
        api.post(
            f"{BASE}/1/artifact",
            params={"filename": "m.bin"},
            content=b"\x01" * (65 * 1024),
            headers=OCTET,
        ),
        413,
        "payload_too_large",
    )
    assert "VIGIL_MAX_ARTIFACT_BYTES" in err["message"]
    # an archive small on the wire whose members add up to more than the limit
    err = _error(
        api.post(
            f"{BASE}/1/artifact",
            params={"filename": "d"},
            content=_tar([("a.bin", bytes(40_000)), ("b.bin", bytes(40_000))], compress=True),
            headers=TAR,
        ),
        413,
        "payload_too_large",
    )
    assert "unpacks to more than" in err["message"]
    assert _leftovers(home) == []
    ok = api.post(
        f"{BASE}/1/artifact", params={"filename": "m.bin"}, content=b"\x01" * 1000, headers=OCTET
    )
    assert ok.status_code == 201, ok.text


def test_a_compression_bomb_is_refused_by_its_expansion_ratio(server_factory, home):
    api = _api(server_factory)
    bomb = _bomb(40 * 1024 * 1024)  # 40 MiB of zeros in about 40 KiB
    assert len(bomb) < 100_000
    err = _error(
        api.post(f"{BASE}/1/artifact", params={"filename": "d"}, content=bomb, headers=TAR),
        413,
        "payload_too_large",
    )
    assert "VIGIL_MAX_ARTIFACT_RATIO" in err["message"]
    assert _leftovers(home) == []
    assert api.get(f"{BASE}").json()["versions"] == []


def test_too_many_members_are_refused_quickly(server_factory, home):
    api = _api(server_factory, max_artifact_members=1000)
    many = _tar([(f"f{i}.txt", b"x") for i in range(20_000)])
    t0 = time.monotonic()
    err = _error(
        api.post(f"{BASE}/1/artifact", params={"filename": "d"}, content=many, headers=TAR),
        413,
        "payload_too_large",
    )
    elapsed = time.monotonic() - t0
    assert "1000 members" in err["message"] and "VIGIL_MAX_ARTIFACT_MEMBERS" in err["message"]
    assert elapsed < 30, elapsed  # it was 105 s for 20k members before the bound
    assert _leftovers(home) == []


@pytest.mark.parametrize(
    ("entries", "needle"),
    [
        ([("a", None), ("a", b"x")], "as both a dir and a file"),
        ([("a", b"x"), ("a", None)], "as both a file and a dir"),
        ([("a", b"x"), ("a/b.pkl", b"y")], "also holds as a file"),
        ([("a/b.pkl", b"y"), ("a", b"x")], "as both a dir and a file"),
        ([("m.pkl", b"1"), ("m.pkl", b"2")], "twice"),
        ([("./", None)], "no files"),
    ],
)
def test_clashing_names_are_400_not_500(server_factory, home, entries, needle):
    api = _api(server_factory)
    err = _error(
        api.post(
            f"{BASE}/1/artifact", params={"filename": "d"}, content=_tar(entries), headers=TAR
        ),
        400,
        "invalid_parameter",
    )
    assert needle in err["message"]
    assert _leftovers(home) == []


@pytest.mark.parametrize("filename", ["a/b.pkl", "../x", "/etc/x", "a\\b", "."])
def test_a_filename_with_folders_is_400(server_factory, filename):
    api = _api(server_factory)
    err = _error(
        api.post(f"{BASE}/1/artifact", params={"filename": filename}, content=b"1", headers=OCTET),
        400,
        "invalid_parameter",
    )
    assert repr(filename) in err["message"]


def test_corrupt_compressed_archives_are_400(server_factory):
    api = _api(server_factory)
    good = _tar([("a.txt", b"hello" * 1000)], compress=True)
    for body in (
        good[: len(good) // 2],
        good[:10] + b"\xff" * 50 + good[60:],
        gzip.compress(b"not a tar at all" * 100),
    ):
        r = api.post(f"{BASE}/1/artifact", params={"filename": "d"}, content=body, headers=TAR)
        _error(r, 400, "invalid_parameter")
    r = api.post(f"{BASE}/1/artifact", params={"filename": "d"}, content=good, headers=TAR)
    assert r.status_code == 201, r.text


def test_a_stalled_upload_times_out_with_408(server_factory, home):
    api = _api(server_factory, artifact_timeout_s=1.0)
    head = (
        f"POST {BASE}/1/artifact?filename=m.bin HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{api.base_url.port}\r\nContent-Type: application/octet-stream\r\n"
        "Content-Length: 100000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", api.base_url.port), timeout=60) as sock:
        sock.sendall(head + b"\x01" * 100)  # then nothing more
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert _leftovers(home) == []
