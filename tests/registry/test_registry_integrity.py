"""Integrity: tampered, unsigned, wrongly signed or unsafe artifacts are refused and audited."""

from __future__ import annotations

import base64
import json
import os
import pickle
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vigil.errors import InvalidParameterError
from vigil.registry import (
    ArtifactNotFoundError,
    IntegrityError,
    Registry,
    UnsafeArtifactError,
    VersionNotFoundError,
    scan_artifact,
)
from vigil.registry.signing import KeyRing, pae
from vigil.store.registry.tables import registry_versions


@pytest.fixture
def store(tmp_path):
    """SQLite only: these tests are about files and signatures; the store queries they
    use run on both backends in test_registry_core.py."""
    from vigil.store import open_store

    s = open_store(f"sqlite:///{tmp_path / 'vigil.db'}")
    yield s
    s.close()


def _refusals(registry):
    return [e for e in registry.store.audit_entries() if e["action"] == "registry.refused"]


def _blob(registry, version):
    row = registry.get("churn", version)
    return registry.artifacts.blob_path(row["manifest"][0]["digest"])


def _update(registry, version, **values):
    model = registry.store.get_model("churn")
    with registry.store.write() as conn:
        conn.execute(
            registry_versions.update()
            .where(registry_versions.c.model_id == model.id, registry_versions.c.version == version)
            .values(**values)
        )


def _tamper(path):
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    with open(path, "r+b") as f:
        f.seek(5)
        f.write(b"X")


def test_verify_reports_key_digest_and_scan(registry, artifacts):
    registry.register("churn", "1", artifacts / "model1.pkl")
    result = registry.verify("churn", "1")
    assert result["key_id"] == registry.keys.key_id
    assert result["scan"]["ok"] and result["scan"]["scanned"] == ["model1.pkl"]
    assert (registry.home / "keys" / "signing.pem").stat().st_mode & 0o777 == 0o600


def test_tampered_blob_is_refused_and_audited(registry, artifacts):
    registry.register("churn", "1", artifacts / "model1.pkl")
    _tamper(_blob(registry, "1"))
    with pytest.raises(IntegrityError, match=r"'model1\.pkl' was altered"):
        registry.load("churn:1")
    refusal = _refusals(registry)[0]
    assert refusal["target"] == "churn:1" and refusal["details"]["code"] == "integrity_error"


def test_registering_the_same_file_again_repairs_a_tampered_blob(registry, artifacts):
    """Blobs are shared by digest: a new version of the same file must not reuse a damaged
    copy (it would be refused at register by the scan, or served altered)."""
    registry.register("churn", "1", artifacts / "model1.pkl")
    _tamper(_blob(registry, "1"))
    registry.register("churn", "2", artifacts / "model1.pkl")
    assert registry.load("churn:2") == registry.load("churn:1")  # both intact again


def test_tampered_checkout_and_extra_files_are_refused(registry, artifacts):
    registry.register("churn", "1", artifacts / "tree")
    path = registry.load("churn:1")
    (path / "sub" / "backdoor.py").write_text("import os")
    with pytest.raises(IntegrityError, match=r"not registered: sub/backdoor\.py"):
        registry.load("churn:1")
    (path / "sub" / "backdoor.py").unlink()
    _tamper(path / "config.json")  # a hard link to the blob: both change
    with pytest.raises(IntegrityError, match=r"'config\.json' was altered"):
        registry.load("churn:1")
    assert len(_refusals(registry)) == 2


def test_missing_blob_is_a_clear_error(registry, artifacts):
    registry.register("churn", "1", artifacts / "model1.pkl")
    _blob(registry, "1").unlink()
    with pytest.raises(ArtifactNotFoundError, match=r"'model1\.pkl' .* is missing"):
        registry.load("churn:1")
    assert _refusals(registry)[0]["details"]["code"] == "artifact_not_found"


def test_unsigned_and_resigned_records_are_refused(registry, artifacts, tmp_path):
    registry.register("churn", "1", artifacts / "model1.pkl")
    registry.register("churn", "2", artifacts / "model2.pkl")
    _update(registry, "1", signature=None)
    with pytest.raises(IntegrityError, match="unsigned"):
        registry.load("churn:1")
    # an attacker edits the manifest to a file of theirs and signs it with their own key
    evil = Registry(registry.store, tmp_path / "attacker")
    row = registry.get("churn", "2")
    manifest = [{**row["manifest"][0], "digest": "ab" * 32}]
    _update(registry, "2", manifest=manifest, signature=evil.keys.sign("churn", manifest))
    with pytest.raises(IntegrityError, match="none of which is trusted"):
        registry.load("churn:2")
    # ... or keeps our signature: the statement no longer matches
    _update(registry, "2", signature=row["signature"])
    with pytest.raises(IntegrityError, match="does not match the registered files"):
        registry.load("churn:2")
    assert len(_refusals(registry)) == 3


def test_path_traversal_in_a_stored_manifest_is_refused(registry, artifacts):
    registry.register("churn", "1", artifacts / "model1.pkl")
    row = registry.get("churn", "1")
    _update(registry, "1", manifest=[{**row["manifest"][0], "name": "../../escape.pkl"}])
    with pytest.raises(InvalidParameterError, match="not a safe relative path"):
        registry.load("churn:1")
    assert _refusals(registry)


def test_signature_is_a_standard_dsse_envelope(registry, artifacts):
    """A third party can verify it with only the public key and the DSSE spec."""
    registry.register("churn", "1", artifacts / "tree")
    bundle = registry.get("churn", "1")["signature"]
    env = bundle["dsseEnvelope"]
    payload = base64.b64decode(env["payload"])
    public = registry.keys.private.public_key()
    public.verify(base64.b64decode(env["signatures"][0]["sig"]), pae(env["payloadType"], payload))
    statement = json.loads(payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://model_signing/signature/v1.0"
    assert [r["name"] for r in statement["predicate"]["resources"]] == [
        "config.json",
        "sub/weights.bin",
    ]
    assert (
        statement["subject"][0]["digest"]["sha256"] == registry.get("churn", "1")["artifact_digest"]
    )


def test_given_signing_key_and_trusted_public_key(tmp_path, store, artifacts):
    store.upsert_model("churn", "other", {"features": []})
    key = Ed25519PrivateKey.generate()
    pem = tmp_path / "release.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signer = Registry(store, tmp_path / "ci", signing_key=pem)
    signer.register("churn", "1", artifacts / "model1.pkl")
    # another machine shares the artifacts but trusts no key yet
    verifier = Registry(store, tmp_path / "ci")
    verifier.keys = KeyRing(tmp_path / "serving")
    with pytest.raises(IntegrityError, match="none of which is trusted"):
        verifier.verify("churn", "1")
    public = tmp_path / "release.pub"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    verifier.keys.trust(public)
    assert verifier.verify("churn", "1")["key_id"] == signer.keys.key_id
    rsa_like = tmp_path / "not-ed25519.pem"
    rsa_like.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError):  # noqa: PT011 - cryptography's own parse error
        Registry(store, tmp_path / "x", signing_key=rsa_like).register(
            "churn", "2", artifacts / "model2.pkl"
        )


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_scan_refuses_dangerous_imports_unless_allowed(registry, tmp_path):
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(_Evil()))
    # refused at register already: never signed, never promotable
    with pytest.raises(UnsafeArtifactError, match=r"dangerous code .*system"):
        registry.register("churn", "1", evil)
    (refused,) = _refusals(registry)
    assert refused["details"]["stage"] == "register"
    assert refused["details"]["code"] == "unsafe_artifact"
    assert registry.versions("churn") == []
    with pytest.raises(VersionNotFoundError):
        registry.promote("churn", "production", "1")
    dangerous = scan_artifact(evil).dangerous[0].split(": ")[1]
    # accepted only when the import is allowed by name, and the audit entry says so
    row = registry.register("churn", "1", evil, allow=[dangerous])
    assert row["scan"]["allowed"] == [f"evil.pkl: {dangerous}"]
    registered = [e for e in registry.store.audit_entries() if e["action"] == "registry.register"]
    assert registered[-1]["details"]["scan"]["allowed"] == [f"evil.pkl: {dangerous}"]
    # load checks again: the allowance at register does not carry over
    with pytest.raises(UnsafeArtifactError, match=r"dangerous code .*system"):
        registry.load("churn:1", deserialize=True)
    assert _refusals(registry)[-1]["details"]["code"] == "unsafe_artifact"
    assert registry.load("churn:1", allow=[dangerous]).name == "evil.pkl"


@pytest.mark.parametrize(
    "content", [b"\x80\x05garbage, not a pickle", pickle.dumps({"a": 1})[:9], b"plain text"]
)
def test_unparseable_pickles_are_failures_not_clean(registry, tmp_path, content):
    bad = tmp_path / "model.pkl"
    bad.write_bytes(content)
    report = scan_artifact(bad)
    assert not report.ok and report.unparsed
    with pytest.raises(UnsafeArtifactError, match="could not be scanned"):
        registry.register("churn", "1", bad)
    registry.register("churn", "1", bad, allow_unparsed=True)
    with pytest.raises(UnsafeArtifactError, match="could not be scanned"):
        registry.load("churn:1")
    assert registry.load("churn:1", allow_unparsed=True).name == "model.pkl"


def test_pickles_inside_zip_archives_are_scanned(tmp_path):
    import zipfile

    archive = tmp_path / "model.pt"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(_Evil()))
    assert "system" in scan_artifact(archive).dangerous[0]
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x05junk")
    assert scan_artifact(archive).unparsed
    raw = tmp_path / "weights.bin"
    raw.write_bytes(b"\x00" * 64)  # raw tensor bytes are not pickles
    assert scan_artifact(raw).scanned == []


def test_sklearn_model_round_trip(registry, tmp_path):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    registry.register("churn", "1", path, framework="sklearn")
    registry.promote("churn", "production", "1")
    loaded = registry.load("churn@production", deserialize=True)
    assert loaded.predict([[3.0]]).tolist() == [1]
