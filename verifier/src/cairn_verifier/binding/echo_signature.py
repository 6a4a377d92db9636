"""Signatures of the Cairn echo services (``services/echo-cpp``, ``services/echo-rust``).

A service answers ``<request-id> <payload>`` with ``OK <request-id> <hex payload> <hex sig>``,
where ``sig`` is a 64-byte ``r || s`` secp256k1 ECDSA signature (low-s) over

    SHA-256(b"cairn-echo-v1\\x00" || u8(len(request-id)) || request-id || payload)

made with the service's key. The full wire format is in ``services/README.md``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ..ecdsa import raw_scalars, raw_to_der
from ..errors import MalformedInputError
from .services import public_key_coordinates

ECHO_DOMAIN: Final = b"cairn-echo-v1\x00"
"""Domain separator that starts every signed message (14 bytes, NUL included)."""

REQUEST_ID_PATTERN: Final = r"^[A-Za-z0-9._-]{1,64}$"
"""Request ids: 1-64 characters, ASCII letters, digits, ``.``, ``_``, ``-``."""

MAX_LINE_BYTES: Final = 4096
"""Longest request line a service accepts, without its newline."""

SIGNATURE_BYTES: Final = 64
SECP256K1_ORDER: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

_COMPONENT: Final = "echo-signature"
_REQUEST_ID: Final = re.compile(REQUEST_ID_PATTERN.removesuffix("$") + r"\Z")
_HALF_ORDER: Final = SECP256K1_ORDER // 2
_LOWER_HEX: Final = re.compile(rb"(?:[0-9a-f]{2})*")


def validate_request_id(request_id: object) -> str:
    """Return ``request_id`` if it matches :data:`REQUEST_ID_PATTERN`, else raise."""
    if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
        raise MalformedInputError(
            f"request id {request_id!r:.80} is invalid",
            component=_COMPONENT,
            hint="use 1-64 characters: A-Z a-z 0-9 . _ -",
        )
    return request_id


def _payload_bytes(request_id: str, payload: object) -> bytes:
    """The payload as the UTF-8 bytes a service would sign; raise if no request can carry it."""
    if isinstance(payload, str):
        try:
            raw = payload.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedInputError(
                "payload contains lone surrogates and has no UTF-8 form", component=_COMPONENT
            ) from None
    elif isinstance(payload, bytes | bytearray | memoryview):
        raw = bytes(payload)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedInputError(
                "payload is not UTF-8", component=_COMPONENT, hint="services echo UTF-8 text only"
            ) from None
    else:
        raise MalformedInputError("payload must be str or bytes", component=_COMPONENT)
    if b"\n" in raw:
        raise MalformedInputError("payload contains a newline", component=_COMPONENT)
    if len(request_id) + 1 + len(raw) > MAX_LINE_BYTES:
        raise MalformedInputError(
            f"request id + payload exceed the {MAX_LINE_BYTES}-byte request line",
            component=_COMPONENT,
        )
    return raw


def echo_message(request_id: str, payload: str | bytes) -> bytes:
    """``ECHO_DOMAIN || u8(len(request_id)) || request_id || payload`` (the signed message)."""
    request_id = validate_request_id(request_id)
    raw = _payload_bytes(request_id, payload)
    encoded_id = request_id.encode("ascii")
    return ECHO_DOMAIN + bytes([len(encoded_id)]) + encoded_id + raw


def echo_digest(request_id: str, payload: str | bytes) -> bytes:
    """SHA-256 of :func:`echo_message`: the 32 bytes the ECDSA signature is over."""
    return hashlib.sha256(echo_message(request_id, payload)).digest()


def signature_scalars(signature64: bytes) -> tuple[int, int]:
    """``(r, s)`` of a 64-byte ``r || s`` signature (big-endian); raises on a wrong length."""
    if not isinstance(signature64, bytes | bytearray | memoryview):
        raise MalformedInputError("a signature must be bytes", component=_COMPONENT)
    raw = bytes(signature64)
    if len(raw) != SIGNATURE_BYTES:
        raise MalformedInputError(
            f"a signature is {SIGNATURE_BYTES} bytes (r || s), not {len(raw)}",
            component=_COMPONENT,
        )
    return raw_scalars(raw)


def verify_echo_signature(
    public_key_sec1: bytes, request_id: str, payload: str | bytes, signature64: bytes
) -> bool:
    """True iff ``signature64`` is a valid low-s signature of the echo message by the key.

    Returns False for a wrong, out-of-range or high-s signature; raises MalformedInputError
    for input no service could have produced (bad key encoding, request id, payload, length).
    """
    public_key_coordinates(public_key_sec1)  # validates the SEC1 encoding with a clear error
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), bytes(public_key_sec1))
    digest = echo_digest(request_id, payload)
    r, s = signature_scalars(signature64)
    if not (0 < r < SECP256K1_ORDER and 0 < s <= _HALF_ORDER):
        return False
    try:
        key.verify(raw_to_der(bytes(signature64)), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True, slots=True)
class EchoResponse:
    """A parsed ``OK`` line of an echo service."""

    request_id: str
    payload: bytes
    signature: bytes


def parse_echo_response(line: bytes) -> EchoResponse:
    """Parse ``OK <id> <hex payload> <hex signature>\\n``; an ``ERR`` line or junk raises."""
    if not isinstance(line, bytes):
        raise MalformedInputError("a response line must be bytes", component=_COMPONENT)
    if not line.endswith(b"\n"):
        raise MalformedInputError(
            "response line is not terminated by a newline", component=_COMPONENT
        )
    text = line[:-1]
    if text.startswith(b"ERR "):
        reason = text[4:].decode("ascii", "replace")
        raise MalformedInputError(
            f"the echo service refused the request: {reason}", component=_COMPONENT
        )
    fields = text.split(b" ")
    if len(fields) != 4 or fields[0] != b"OK":
        raise MalformedInputError(f"not an echo response: {text[:80]!r}", component=_COMPONENT)
    _, raw_id, payload_hex, signature_hex = fields
    request_id = validate_request_id(raw_id.decode("ascii", "replace"))
    try:
        payload = _strict_hex(payload_hex)
        signature = _strict_hex(signature_hex)
    except ValueError:
        raise MalformedInputError(
            "response fields are not lowercase hex", component=_COMPONENT
        ) from None
    signature_scalars(signature)
    _payload_bytes(request_id, payload)
    return EchoResponse(request_id, payload, signature)


def _strict_hex(field: bytes) -> bytes:
    """Decode lowercase hex with an even number of digits (the services' only encoding)."""
    if not _LOWER_HEX.fullmatch(field):
        raise ValueError("not lowercase hex")
    return bytes.fromhex(field.decode("ascii"))
