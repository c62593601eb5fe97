"""Ed25519 signatures over artifact manifests, in the OpenSSF model-signing layout.

The signed payload is an in-toto Statement v1 whose subject is the model and whose
predicate lists every file with its SHA-256 digest (model-signing's "files"
serialisation, v1.0 predicate). The statement is wrapped in a DSSE envelope, and the
envelope in a Sigstore-style bundle naming the public key by its id (SHA-256 of the raw
key), as model-signing does for key-based signing.

Keys live under ``VIGIL_HOME/keys`` by default: ``signing.pem`` (private, created on first
use, mode 0600) and ``trusted/*.pub`` (public keys a verifier accepts; the signing key's
own public key is placed there). Verification never trusts a key carried by the signature.

Whoever can write the data folder could otherwise replace both and re-sign artifacts, so
the signing key can live elsewhere (``VIGIL_SIGNING_KEY``), encrypted with a passphrase
(``VIGIL_SIGNING_KEY_PASSPHRASE``, PKCS#8 with the best available encryption), and the
trusted keys can be pinned in a folder of their own (``VIGIL_TRUSTED_KEYS``) that vigil
only reads: nothing is added to it, not even the signing key's public key.

Examples:
    >>> import tempfile
    >>> keys = KeyRing(tempfile.mkdtemp())
    >>> files = [{"name": "model.pkl", "digest": "ab" * 32, "size": 3}]
    >>> bundle = keys.sign("churn", files)
    >>> bundle["dsseEnvelope"]["payloadType"]
    'application/vnd.in-toto+json'
    >>> keys.verify(bundle, "churn", files)["keyid"] == keys.key_id
    True
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vigil.errors import InvalidParameterError
from vigil.keyfiles import create_once
from vigil.registry.artifacts import manifest_digest
from vigil.registry.errors import IntegrityError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is actually signed.

    Examples:
        >>> pae("t", b"ab")
        b'DSSEv1 1 t 2 ab'
    """
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def key_id(public: Ed25519PublicKey) -> str:
    """The SHA-256 hex digest of the raw public key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def statement(model: str, manifest: list[dict[str, Any]]) -> dict[str, Any]:
    """The in-toto statement of an artifact's files."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model, "digest": {"sha256": manifest_digest(manifest)}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": False,
                "ignore_paths": [],
            },
            "resources": [
                {"name": e["name"], "algorithm": "sha256", "digest": e["digest"]}
                for e in sorted(manifest, key=lambda e: e["name"])
            ],
        },
    }


class KeyRing:
    """The signing key and the trusted public keys.

    Args:
        folder: usually ``VIGIL_HOME/keys``.
        private_key: a PEM Ed25519 private key file to sign with instead of ``signing.pem``
            (created there on first use when missing).
        passphrase: decrypts the private key (and encrypts it when it is created).
        trusted_folder: a pinned folder of trusted ``*.pub`` keys, only read; default
            ``folder/trusted``, to which the signing key's public key is added.
    """

    def __init__(
        self,
        folder: str | Path,
        private_key: str | Path | None = None,
        *,
        passphrase: str | None = None,
        trusted_folder: str | Path | None = None,
    ) -> None:
        self.folder = Path(folder)
        self._private_path = Path(private_key) if private_key else self.folder / "signing.pem"
        self._passphrase = passphrase.encode() if passphrase else None
        self.pinned = trusted_folder is not None
        self.trusted_folder = Path(trusted_folder) if trusted_folder else self.folder / "trusted"
        self._private: Ed25519PrivateKey | None = None

    # -- keys ----------------------------------------------------------------------------
    @property
    def private(self) -> Ed25519PrivateKey:
        """The signing key, created (and its public key trusted) on first use."""
        if self._private is None:
            path = self._private_path
            if path.is_file():
                self._private = self._load(path)
            else:
                self._private = Ed25519PrivateKey.generate()
                path.parent.mkdir(parents=True, exist_ok=True)
                protection: serialization.KeySerializationEncryption = (
                    serialization.BestAvailableEncryption(self._passphrase)
                    if self._passphrase
                    else serialization.NoEncryption()
                )
                pem = self._private.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, protection
                )
                if create_once(path, pem) != pem:  # another process made one meanwhile
                    self._private = self._load(path)
            if not self.pinned:
                self.trust(self._private.public_key())
        return self._private

    def _load(self, path: Path) -> Ed25519PrivateKey:
        try:
            loaded = serialization.load_pem_private_key(
                path.read_bytes(), password=self._passphrase
            )
        except TypeError:  # encrypted without a passphrase, or a passphrase for a plain key
            if self._passphrase is None:
                raise InvalidParameterError(
                    f"The signing key {str(path)!r} is encrypted: set VIGIL_SIGNING_KEY_PASSPHRASE."
                ) from None
            raise InvalidParameterError(
                f"The signing key {str(path)!r} is not encrypted, but a passphrase was given "
                "(VIGIL_SIGNING_KEY_PASSPHRASE): encrypt the key or unset it."
            ) from None
        except ValueError:
            raise InvalidParameterError(
                f"The signing key {str(path)!r} could not be read: a wrong passphrase "
                "(VIGIL_SIGNING_KEY_PASSPHRASE) or not a PEM private key."
            ) from None
        if not isinstance(loaded, Ed25519PrivateKey):
            raise InvalidParameterError(
                f"The signing key {str(path)!r} is not an Ed25519 private key."
            )
        return loaded

    @property
    def key_id(self) -> str:
        return key_id(self.private.public_key())

    def trust(self, public: Ed25519PublicKey | bytes | str | Path) -> str:
        """Add a public key (object, PEM bytes or PEM file) to the trusted ones; its id."""
        if isinstance(public, str | Path):
            public = Path(public).read_bytes()
        if isinstance(public, bytes):
            loaded = serialization.load_pem_public_key(public)
            if not isinstance(loaded, Ed25519PublicKey):
                raise InvalidParameterError("A trusted key must be an Ed25519 public key.")
            public = loaded
        kid = key_id(public)
        path = self.trusted_folder / f"{kid}.pub"
        if self.pinned:
            if not path.is_file():
                raise InvalidParameterError(
                    f"The trusted keys in {self.trusted_folder} are pinned (VIGIL_TRUSTED_KEYS) "
                    f"and read-only to vigil: add {kid}.pub there yourself."
                )
            return kid
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(
                public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
        return kid

    def trusted(self) -> dict[str, Ed25519PublicKey]:
        """The trusted public keys by id."""
        out: dict[str, Ed25519PublicKey] = {}
        for path in sorted(self.trusted_folder.glob("*.pub")):
            key = serialization.load_pem_public_key(path.read_bytes())
            if isinstance(key, Ed25519PublicKey):
                out[key_id(key)] = key
        return out

    # -- signatures ----------------------------------------------------------------------
    def sign(self, model: str, manifest: list[dict[str, Any]]) -> dict[str, Any]:
        """A bundle with a DSSE envelope signing the statement of ``manifest``."""
        payload = json.dumps(
            statement(model, manifest), sort_keys=True, separators=(",", ":")
        ).encode()
        sig = self.private.sign(pae(PAYLOAD_TYPE, payload))
        return {
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {"publicKey": {"hint": self.key_id}},
            "dsseEnvelope": {
                "payload": base64.b64encode(payload).decode(),
                "payloadType": PAYLOAD_TYPE,
                "signatures": [{"keyid": self.key_id, "sig": base64.b64encode(sig).decode()}],
            },
        }

    def verify(
        self,
        bundle: Any,
        model: str,
        manifest: list[dict[str, Any]],
        public_key: Ed25519PublicKey | None = None,
    ) -> dict[str, Any]:
        """Check a bundle against trusted keys (or ``public_key``) and the manifest.

        Returns:
            ``{"keyid", "subject_digest"}`` of the valid signature.

        Raises:
            IntegrityError: no signature, an untrusted key, a bad signature, or a
                statement whose files differ from ``manifest``.
        """
        if not isinstance(bundle, dict) or not isinstance(bundle.get("dsseEnvelope"), dict):
            raise IntegrityError(f"The artifact of {model!r} is unsigned; it is refused.")
        env = bundle["dsseEnvelope"]
        try:
            payload = base64.b64decode(env["payload"], validate=True)
            sigs = [
                (s["keyid"], base64.b64decode(s["sig"], validate=True)) for s in env["signatures"]
            ]
            payload_type = env["payloadType"]
        except (KeyError, TypeError, ValueError):
            raise IntegrityError(f"The signature of {model!r} is malformed.") from None
        keys = {key_id(public_key): public_key} if public_key is not None else self.trusted()
        valid = None
        for kid, sig in sigs:
            key = keys.get(kid)
            if key is None:
                continue
            try:
                key.verify(sig, pae(payload_type, payload))
            except InvalidSignature:
                raise IntegrityError(
                    f"The signature of {model!r} by key {kid[:12]}... is invalid: the signed "
                    "statement was altered."
                ) from None
            valid = kid
            break
        if valid is None:
            raise IntegrityError(
                f"The artifact of {model!r} is signed by key(s) "
                f"{', '.join(k[:12] + '...' for k, _ in sigs) or 'none'}, none of which is "
                f"trusted (trusted keys live in {self.trusted_folder})."
            )
        try:
            signed = json.loads(payload)
        except ValueError:
            raise IntegrityError(f"The signed statement of {model!r} is not JSON.") from None
        if signed != statement(model, manifest):
            raise IntegrityError(
                f"The signed statement of {model!r} does not match the registered files "
                "(names, digests or model name differ)."
            )
        return {"keyid": valid, "subject_digest": manifest_digest(manifest)}
