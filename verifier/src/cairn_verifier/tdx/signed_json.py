"""Intel's signed collateral JSON: the exact bytes Intel signed, the signature, the issuer chain.

Intel signs the *exact bytes* of the inner ``tcbInfo`` / ``enclaveIdentity`` object as served by
the PCS (ECDSA P-256, SHA-256, raw r||s). Cairn therefore never re-serialises JSON: a PCS body
``{"tcbInfo":{...},"signature":"..."}`` is sliced byte-exactly with :func:`slice_json_member`
(:func:`split_pcs_body`), and :func:`pcs_response_body` puts signed bytes back into such a body.
The issuer chain travels beside the body (a URL-encoded PEM HTTP header,
:func:`decode_issuer_chain_header`).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any, Generic, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ..ecdsa import raw_scalars, raw_to_der
from ..errors import MalformedInputError, SignatureError
from ..records import Record
from .json_fields import PCS_HINT, load_json_object


class SignedJson(Record):
    """The exact bytes Intel signed and the 64-byte r||s ECDSA P-256 signature over them."""

    body: bytes
    signature: bytes

    __slots__ = ("body", "signature")

    def __init__(self, body: bytes, signature: bytes) -> None:
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "signature", signature)


T = TypeVar("T")


class Signed(Generic[T], Record):
    """A parsed collateral document with its signed bytes and its issuer chain (PEM)."""

    parsed: T
    signed: SignedJson
    issuer_chain: bytes | None

    __slots__ = ("issuer_chain", "parsed", "signed")

    def __init__(self, parsed: T, signed: SignedJson, issuer_chain: bytes | None) -> None:
        object.__setattr__(self, "parsed", parsed)
        object.__setattr__(self, "signed", signed)
        object.__setattr__(self, "issuer_chain", issuer_chain)


def verify_signed_json(signed: SignedJson, signer_public_key: ec.EllipticCurvePublicKey) -> None:
    """Verify Intel's ECDSA P-256/SHA-256 signature over the exact signed bytes."""
    if not isinstance(signer_public_key, ec.EllipticCurvePublicKey) or not isinstance(
        signer_public_key.curve, ec.SECP256R1
    ):
        raise SignatureError(
            "the collateral signer key is not an ECDSA P-256 key",
            component="tdx-collateral",
            hint="the signer must be the leaf (Intel SGX TCB Signing) of the issuer chain",
        )
    if len(signed.signature) != 64:
        raise SignatureError(
            f"signature is {len(signed.signature)} bytes, expected 64 (r||s)",
            component="tdx-collateral",
        )
    r, s = raw_scalars(signed.signature)
    if r == 0 or s == 0:
        raise SignatureError("signature has a zero r or s", component="tdx-collateral")
    try:
        signer_public_key.verify(
            raw_to_der(signed.signature), signed.body, ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature as exc:
        raise SignatureError(
            "Intel's signature over the collateral JSON does not verify",
            component="tdx-collateral",
            hint="the JSON was altered (re-serialised, re-indented, EOL-converted) or the "
            "issuer chain does not belong to it; use the bytes exactly as served",
        ) from exc


# --------------------------------------------------------------------------- raw JSON slicing

_WS = b" \t\r\n"


def slice_json_member(text: bytes, key: str) -> bytes:
    """Return the exact bytes of the value of top-level member ``key`` of a JSON object.

    String-aware: braces and quotes inside strings (and escapes) are handled. Duplicate keys
    and malformed structure raise :class:`MalformedInputError`; nothing is re-serialised.
    """
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != ord("{"):
        raise _json_error("expected a JSON object", pos)
    pos = _skip_ws(text, pos + 1)
    found: bytes | None = None
    seen: set[str] = set()
    if pos < len(text) and text[pos] == ord("}"):
        pos += 1
    else:
        while True:
            name_end = _scan_string(text, pos)
            try:
                name = json.loads(text[pos:name_end].decode("utf-8", errors="strict"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise _json_error("invalid member name", pos) from exc
            if name in seen:
                raise _json_error(f"duplicate member {name!r}", pos)
            seen.add(name)
            pos = _skip_ws(text, name_end)
            if pos >= len(text) or text[pos] != ord(":"):
                raise _json_error("expected ':'", pos)
            value_start = _skip_ws(text, pos + 1)
            value_end = _scan_value(text, value_start)
            if name == key:
                found = text[value_start:value_end]
            pos = _skip_ws(text, value_end)
            if pos < len(text) and text[pos] == ord(","):
                pos = _skip_ws(text, pos + 1)
                continue
            if pos < len(text) and text[pos] == ord("}"):
                pos += 1
                break
            raise _json_error("expected ',' or '}'", pos)
    if _skip_ws(text, pos) != len(text):
        raise _json_error("trailing data after the JSON object", pos)
    if found is None:
        raise MalformedInputError(
            f"JSON object has no {key!r} member", component="tdx-collateral", hint=PCS_HINT
        )
    return found


def _json_error(message: str, offset: int) -> MalformedInputError:
    return MalformedInputError(f"malformed JSON at byte {offset}: {message}", component="json")


def _skip_ws(text: bytes, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _scan_string(text: bytes, pos: int) -> int:
    """Offset just past the JSON string starting at ``pos``."""
    if pos >= len(text) or text[pos] != ord('"'):
        raise _json_error("expected a string", pos)
    i = pos + 1
    while i < len(text):
        byte = text[i]
        if byte == ord("\\"):
            i += 2
            continue
        if byte == ord('"'):
            return i + 1
        if byte < 0x20:
            raise _json_error("control character in string", i)
        i += 1
    raise _json_error("unterminated string", pos)


def _scan_value(text: bytes, pos: int) -> int:
    """Offset just past the JSON value starting at ``pos`` (brackets matched outside strings)."""
    if pos >= len(text):
        raise _json_error("expected a value", pos)
    first = text[pos]
    if first == ord('"'):
        return _scan_string(text, pos)
    if first in b"{[":
        depth = 0
        i = pos
        while i < len(text):
            byte = text[i]
            if byte == ord('"'):
                i = _scan_string(text, i)
                continue
            if byte in b"{[":
                depth += 1
            elif byte in b"}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise _json_error("unterminated object or array", pos)
    end = pos
    while end < len(text) and text[end] not in b",}] \t\r\n":
        end += 1
    if end == pos:
        raise _json_error("expected a value", pos)
    return end


# --------------------------------------------------------------------------- PCS bodies, chains


def split_pcs_body(body: bytes, key: str, what: str) -> tuple[bytes, bytes]:
    """Return (exact signed inner bytes, signature) of a PCS response body."""
    envelope = load_json_object(body, what)
    unknown = sorted(set(envelope) - {key, "signature"})
    if unknown:
        raise MalformedInputError(
            f"{what} has unknown member(s) {', '.join(map(repr, unknown))}",
            component="tdx-collateral",
            hint=f'expected the PCS body exactly as served: {{"{key}": {{…}}, "signature": "…"}}',
        )
    inner = slice_json_member(body, key)
    if load_json_object(inner, what) != envelope.get(key):
        raise MalformedInputError(
            f"{what}: could not isolate the signed {key!r} object", component="tdx-collateral"
        )
    if "signature" not in envelope:
        raise MalformedInputError(f"{what} has no 'signature' member", component="tdx-collateral")
    return inner, signature_hex(envelope["signature"], f"{what} signature")


def pcs_response_body(member: str, signed: bytes, signature: bytes) -> bytes:
    """``{"<member>":<signed bytes>,"signature":"<hex>"}`` as Intel PCS serves it.

    The signed object is kept byte for byte, so Intel's signature over it still verifies.
    """
    head = b'{"' + member.encode() + b'":'
    return head + signed + b',"signature":"' + signature.hex().encode() + b'"}'


def decode_issuer_chain_header(value: str) -> bytes:
    """Decode a PCS ``*-Issuer-Chain`` HTTP header (URL-encoded PEM) into PEM bytes."""
    try:
        text = urllib.parse.unquote(value.strip(), errors="strict")
    except UnicodeDecodeError as exc:
        raise MalformedInputError(
            "issuer chain header is not URL-encoded UTF-8 text", component="tdx-collateral"
        ) from exc
    return check_pem_chain(text.encode("utf-8"), "issuer chain header")


def check_pem_chain(data: bytes, what: str) -> bytes:
    if b"-----BEGIN CERTIFICATE-----" not in data or b"-----END CERTIFICATE-----" not in data:
        raise MalformedInputError(
            f"{what} contains no PEM certificate",
            component="tdx-collateral",
            hint="expected the PEM chain 'Intel SGX TCB Signing' + 'Intel SGX Root CA'",
        )
    return data


def signature_hex(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not re.fullmatch(r"[0-9A-Fa-f]{128}", text):
        raise MalformedInputError(
            f"{what} must be 128 hex digits (64-byte r||s)", component="tdx-collateral"
        )
    return bytes.fromhex(text)
