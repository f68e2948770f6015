"""Sign operators' commands on the ground with the link layer's CommandSigner (Ed25519)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stratolink.link.commands import CommandSigner


def sign_command(
    key: Ed25519PrivateKey, operator_id: str, balloon_id: str, seq: int,
    action: Mapping[str, Any], issued_at: float, expires_at: float,
) -> bytes:
    """The signed command's wire bytes, ready to travel in a bundle of kind 'command'."""
    signed = CommandSigner(key, operator_id).sign(
        balloon_id=balloon_id, seq=seq, action=dict(action), issued_at=issued_at,
        expires_at=expires_at,
    )
    return signed.encode()
