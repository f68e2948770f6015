"""Operator credentials: scrypt password hashes, session tokens, password-wrapped Ed25519 keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
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


def register_operator(store: MissionStore, username: str, password: str, now: float) -> bytes:
    """Create an operator with a new Ed25519 signing key; returns the raw public key."""
    if len(password) < 8:
        raise InvalidParameterError("operator password must be at least 8 characters")
    public, wrapped = new_operator_key(password)
    store.add_operator(username, hash_password(password), public, wrapped, now)
    return public
