"""Channel binding v1: a guest's X25519 channel key bound into the reserved second half of
REPORT_DATA v1 (``docs/spec/channel-binding-v1.md``).

``REPORT_DATA = claims_digest (32 B) || channel_digest (32 B)`` with
``channel_digest = SHA-256(CHANNEL_DOMAIN || public_key)`` and ``public_key`` the 32-byte raw
X25519 public key (RFC 7748). Only code inside the guest that holds the private key asks the TEE
for such a report (``cairn-agent state-key``); the agent's HTTP API never sets the second half,
so nobody who can only reach that API obtains evidence bound to a key of their choosing. A key
broker (``cairn serve``) releases secrets wrapped to the bound key, so a replayed token or
evidence is useless to anyone without the private key.
"""

from __future__ import annotations

import hashlib
from typing import Final

from ..errors import MalformedInputError

CHANNEL_BINDING_VERSION: Final = 1
CHANNEL_DOMAIN: Final = b"cairn/channel-key/v1".ljust(32, b"\0")
"""The ASCII tag right-padded with zero bytes to 32 bytes (as REPORT_DATA v1's DOMAIN)."""
X25519_KEY_BYTES: Final = 32
_COMPONENT: Final = "channel-binding"


def _public_key(public_key: object) -> bytes:
    if not isinstance(public_key, bytes) or len(public_key) != X25519_KEY_BYTES:
        size = f"{len(public_key)} bytes" if isinstance(public_key, bytes) else type(public_key)
        raise MalformedInputError(
            f"a channel key is a {X25519_KEY_BYTES}-byte X25519 public key, got {size}",
            component=_COMPONENT,
        )
    if public_key == bytes(X25519_KEY_BYTES):
        raise MalformedInputError("the all-zero X25519 key is no channel key", component=_COMPONENT)
    return public_key


def channel_digest(public_key: bytes) -> bytes:
    """``SHA-256(CHANNEL_DOMAIN || public_key)``: the second half of a channel-bound REPORT_DATA."""
    return hashlib.sha256(CHANNEL_DOMAIN + _public_key(public_key)).digest()


def bind_channel(report_data: bytes, public_key: bytes) -> bytes:
    """REPORT_DATA v1 (64 bytes, reserved half zero) with the channel digest in its second half."""
    if len(report_data) != 64 or any(report_data[32:]):
        raise MalformedInputError(
            "channel binding needs a REPORT_DATA v1 value whose reserved second half is zero",
            component=_COMPONENT,
        )
    return report_data[:32] + channel_digest(public_key)
