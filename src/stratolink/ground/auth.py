"""Operator credentials: scrypt password hashes, session tokens, password-wrapped Ed25519 keys.

A session outlives the process that opened it: at log-in the operator's signing key is sealed
(AES-256-GCM, from the `cryptography` package) under a key derived with HKDF from the bearer
token, and the sealed key is kept with the session in the mission store. Any API process on
the store can then sign for whoever presents the token, and nobody without the token can: the
store keeps only the token's SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidKey, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from stratolink.errors import InvalidParameterError

if TYPE_CHECKING:
    from stratolink.ground.store import MissionStore

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1


def hash_password(password: str, *, n: int = SCRYPT_N) -> str:
    """Hash a password with scrypt and a random salt, as 'scrypt$n$r$p$salt$hash' (base64)."""
    if not password:
        raise InvalidParameterError("password must not be empty")
    salt = secrets.token_bytes(16)
    digest = Scrypt(salt=salt, length=32, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(password.encode())
    b64 = base64.b64encode
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Check a password against a stored scrypt hash in constant time; False on any mismatch."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = encoded.split("$")
        if scheme != "scrypt":
            return False
        kdf = Scrypt(
            salt=base64.b64decode(salt_b64), length=32, n=int(n), r=int(r), p=int(p)
        )
        kdf.verify(password.encode(), base64.b64decode(digest_b64))
        return True
    except (ValueError, InvalidKey):
        return False


def new_token() -> str:
    """A fresh random bearer token (URL-safe, 256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the store keeps of a token: its SHA-256 (a leaked table reveals no usable token)."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two token hashes."""
    return hmac.compare_digest(a.encode(), b.encode())


def new_operator_key(password: str) -> tuple[bytes, bytes]:
    """Generate an Ed25519 signing key: (raw public key, PKCS#8 PEM encrypted with the password)."""
    key = Ed25519PrivateKey.generate()
    return wrap_operator_key(key, password)


def wrap_operator_key(key: Ed25519PrivateKey, password: str) -> tuple[bytes, bytes]:
    """Serialise an existing key: (raw public key, PEM encrypted under the operator's password)."""
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password.encode()),
    )
    return public, pem


def unwrap_operator_key(pem: bytes, password: str) -> Ed25519PrivateKey:
    """Decrypt an operator's signing key with their password."""
    key = serialization.load_pem_private_key(pem, password=password.encode())
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidParameterError("operator key is not an Ed25519 key")
    return key


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    """Load a raw 32-byte Ed25519 public key."""
    return Ed25519PublicKey.from_public_bytes(raw)


def register_operator(store: MissionStore, username: str, password: str, now: float,
                      role: str = "operator") -> bytes:
    """Create an operator with a new Ed25519 signing key; returns the raw public key."""
    if len(password) < 8:
        raise InvalidParameterError("operator password must be at least 8 characters")
    public, wrapped = new_operator_key(password)
    store.add_operator(username, hash_password(password), public, wrapped, now, role=role)
    return public


def public_key_pem(raw: bytes) -> bytes:
    """An operator's raw public key as the PEM file a balloon trusts (NAME.operator.pub)."""
    return public_key_from_raw(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _session_cipher(token: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"stratolink session signing key").derive(token.encode())
    return AESGCM(key)


def seal_session_key(token: str, key: Ed25519PrivateKey) -> bytes:
    """The operator's signing key encrypted under the session token (nonce + ciphertext)."""
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    nonce = secrets.token_bytes(12)
    return nonce + _session_cipher(token).encrypt(nonce, raw, token_hash(token).encode())


def open_session_key(token: str, sealed: bytes) -> Ed25519PrivateKey | None:
    """The signing key sealed by `seal_session_key`, or None if the token does not open it."""
    if len(sealed) < 12 + 16:
        return None
    try:
        raw = _session_cipher(token).decrypt(sealed[:12], sealed[12:], token_hash(token).encode())
    except InvalidTag:
        return None
    return Ed25519PrivateKey.from_private_bytes(raw)


class PasswordChecker:
    """Checks log-ins in the same time whether or not the user exists.

    An unknown name is checked against a decoy hash made with the same scrypt cost, so the
    answer's timing does not tell whether a name is an operator.
    """

    def __init__(self) -> None:
        self._decoy = hash_password(secrets.token_urlsafe(16))

    def check(self, password: str, record: dict[str, object] | None) -> bool:
        """True only for an existing operator with this password."""
        encoded = str(record["password_hash"]) if record is not None else self._decoy
        ok = verify_password(password, encoded)
        return ok and record is not None
