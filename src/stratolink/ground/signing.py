"""Sign operators' commands on the ground, with the link layer's CommandSigner (Ed25519).

Without the link layer installed, the same fields (balloon_id, seq, issued_at, expires_at,
operator_id, action) are signed as canonical CBOR with Ed25519 and sent as a CBOR map
that adds the `signature`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

log = logging.getLogger(__name__)


def _local_signed_command(key: Ed25519PrivateKey, fields: dict[str, Any]) -> bytes:
    body = cbor2.dumps(fields, canonical=True)
    return bytes(cbor2.dumps({**fields, "signature": key.sign(body)}, canonical=True))


def sign_command(
    key: Ed25519PrivateKey, operator_id: str, balloon_id: str, seq: int,
    action: Mapping[str, Any], issued_at: float, expires_at: float,
) -> bytes:
    """The signed command's wire bytes, ready to travel in a bundle of kind 'command'."""
    fields = {"balloon_id": balloon_id, "seq": seq, "issued_at": issued_at,
              "expires_at": expires_at, "operator_id": operator_id, "action": dict(action)}
    try:
        from stratolink.link.commands import CommandSigner
    except ImportError:
        return _local_signed_command(key, fields)
    try:
        signed = CommandSigner(key, operator_id).sign(
            balloon_id=balloon_id, seq=seq, action=dict(action), issued_at=issued_at,
            expires_at=expires_at,
        )
        return bytes(signed.encode())
    except (TypeError, AttributeError) as exc:  # a link layer with another signing call
        log.warning("CommandSigner API not as agreed (%s); signing locally", exc)
        return _local_signed_command(key, fields)
