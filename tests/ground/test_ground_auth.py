"""Operator credentials: scrypt hashes, tokens and password-wrapped signing keys."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from stratolink.errors import InvalidParameterError
from stratolink.ground import auth


def test_password_hashes_verify_only_the_right_password() -> None:
    encoded = auth.hash_password("correct horse battery")
    assert encoded.startswith("scrypt$16384$8$1$")
    assert auth.verify_password("correct horse battery", encoded)
    assert not auth.verify_password("correct horse batterY", encoded)
    assert encoded != auth.hash_password("correct horse battery")  # salted
    scheme, n, r, p, salt, digest = encoded.split("$")
    flipped = ("A" if digest[0] != "A" else "B") + digest[1:]  # changes the first byte
    assert not auth.verify_password("correct horse battery",
                                    "$".join([scheme, n, r, p, salt, flipped]))
    assert not auth.verify_password("x", "not-a-hash")
    with pytest.raises(InvalidParameterError):
        auth.hash_password("")


def test_tokens_are_random_and_stored_hashed() -> None:
    a, b = auth.new_token(), auth.new_token()
    assert a != b and len(a) >= 40
    assert auth.token_hash(a) != a and len(auth.token_hash(a)) == 64
    assert auth.tokens_equal(auth.token_hash(a), auth.token_hash(a))


def test_operator_key_needs_the_password() -> None:
    public, wrapped = auth.new_operator_key("correct horse battery")
    assert b"ENCRYPTED" in wrapped
    key = auth.unwrap_operator_key(wrapped, "correct horse battery")
    signature = key.sign(b"ascend")
    Ed25519PublicKey.from_public_bytes(public).verify(signature, b"ascend")
    with pytest.raises(ValueError):
        auth.unwrap_operator_key(wrapped, "wrong password")
