"""The signing key outside the data folder, passphrase-protected, and trusted keys pinned
read-only: whoever can write the data folder can no longer re-sign artifacts."""

from __future__ import annotations

import pickle
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vigil.errors import InvalidParameterError
from vigil.registry import Registry
from vigil.registry.errors import IntegrityError
from vigil.registry.signing import KeyRing


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'vigil.db'}"


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "src" / "model.pkl"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps({"w": [1, 2]}))
    return path


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_the_signing_key_can_live_outside_the_data_folder(store, tmp_path, model_file, monkeypatch):
    home, secrets = tmp_path / "home", tmp_path / "secrets"
    monkeypatch.setenv("VIGIL_SIGNING_KEY", str(secrets / "signing.pem"))
    store.upsert_model(
        "churn", "binary_classification", {"task": "binary_classification", "features": []}
    )
    reg = Registry(store, home)
    reg.register("churn", "1", model_file)
    assert reg.verify("churn", "1")["path"]  # signature, digests and scan pass
    key = secrets / "signing.pem"
    assert key.is_file() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert not (home / "keys" / "signing.pem").exists()
    assert not any(name.endswith(".pem") for name in _files(home))


def test_a_passphrase_protects_the_signing_key(tmp_path):
    path = tmp_path / "outside" / "signing.pem"
    files = [{"name": "m.pkl", "digest": "ab" * 32, "size": 3}]
    ring = KeyRing(tmp_path / "keys", path, passphrase="correct horse")
    bundle = ring.sign("churn", files)
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    with pytest.raises(TypeError):  # nothing usable without the passphrase
        serialization.load_pem_private_key(path.read_bytes(), password=None)
    with pytest.raises(InvalidParameterError, match="VIGIL_SIGNING_KEY_PASSPHRASE"):
        KeyRing(tmp_path / "keys", path).sign("churn", files)
    with pytest.raises(InvalidParameterError, match="wrong passphrase"):
        KeyRing(tmp_path / "keys", path, passphrase="wrong").sign("churn", files)
    again = KeyRing(tmp_path / "keys", path, passphrase="correct horse")
    assert again.verify(bundle, "churn", files)["keyid"] == ring.key_id


def test_pinned_trusted_keys_refuse_a_key_planted_in_the_data_folder(
    store, tmp_path, model_file, monkeypatch
):
    home, pinned, secrets = tmp_path / "home", tmp_path / "pinned", tmp_path / "secrets"
    pinned.mkdir()
    operator_key = Ed25519PrivateKey.generate()
    secrets.mkdir()
    (secrets / "signing.pem").write_bytes(
        operator_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    store.upsert_model(
        "churn", "binary_classification", {"task": "binary_classification", "features": []}
    )
    monkeypatch.setenv("VIGIL_SIGNING_KEY", str(secrets / "signing.pem"))
    monkeypatch.setenv("VIGIL_TRUSTED_KEYS", str(pinned))
    reg = Registry(store, home)
    reg.register("churn", "1", model_file)
    # the operator has not pinned the public key yet: nothing verifies, nothing is added
    with pytest.raises(IntegrityError, match="none of which is trusted"):
        reg.keys.verify(store_signature(reg), "churn", manifest(reg))
    assert _files(pinned) == []
    kid = reg.keys.key_id
    (pinned / f"{kid}.pub").write_bytes(
        operator_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert reg.verify("churn", "1")["path"]  # signature, digests and scan pass
    # an attacker who writes the data folder plants a key and re-signs: refused
    attacker = KeyRing(home / "keys", home / "keys" / "evil.pem")
    forged = attacker.sign("churn", manifest(reg))
    assert (home / "keys" / "trusted").exists()  # the planted key is "trusted" there...
    with pytest.raises(IntegrityError, match="none of which is trusted"):
        reg.keys.verify(forged, "churn", manifest(reg))  # ...but vigil reads the pinned folder
    with pytest.raises(InvalidParameterError, match="pinned"):
        reg.keys.trust(attacker.private.public_key())
    assert _files(pinned) == [f"{kid}.pub"]


def store_signature(reg):
    return reg.get("churn", "1")["signature"]


def manifest(reg):
    return reg.get("churn", "1")["manifest"]
