"""The text layer of an input: raw binary, hex, base64 or a PEM-style block.

Detection rule (deterministic, in this order):

1. If any byte is outside printable ASCII and whitespace, the data is raw binary. Attestation
   structures always contain zero bytes (reserved fields, padding), so they are never mistaken
   for text; a size-based preference for raw was rejected because the hex text of a 592-byte
   blob is exactly 1184 characters long.
2. Otherwise it is text (a leading UTF-8 BOM is ignored):
   * with ``-----BEGIN <LABEL>-----`` armour: the base64 body of the single block (text around
     the block, such as an openpcc txtar header, is ignored);
   * else, whitespace removed and an optional ``0x`` prefix dropped: hex if every character is a
     hex digit (and the count is even) — hex comes first because hex digits are also base64
     characters, and real base64 of evidence is never all hex digits;
   * else base64, standard or URL-safe alphabet, padded or not, line-wrapped or not;
   * anything else is a MalformedInputError saying what was found.

:func:`decode_blob` applies the rule and returns one decoding. :func:`decode_text_candidates`
also returns the base64 reading of all-hex-digit text, so that the evidence readers
(:mod:`cairn_verifier.inputs`) can refuse the rare text that is valid evidence both ways
instead of silently preferring one reading.
"""

from __future__ import annotations

import binascii
import re
from enum import StrEnum

from ..errors import MalformedInputError
from ..records import Record

COMPONENT = "input"

_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | frozenset(b"\t\n\r\x0b\x0c")
BOM = b"\xef\xbb\xbf"
_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 _-]+)-----(.*?)-----END ([A-Z0-9 _-]+)-----", re.DOTALL
)
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_B64_STD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_B64_URL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class BlobFormat(StrEnum):
    """How a blob was encoded when the user handed it over."""

    RAW = "raw binary"
    HEX = "hex"
    BASE64 = "base64"
    BASE64URL = "base64url"
    PEM = "PEM block"

    @property
    def format_name(self) -> str:
        """The name of this encoding in the input-format registry (docs/inputs.md)."""
        return _FORMAT_NAMES[self]


_FORMAT_NAMES = {
    BlobFormat.RAW: "raw",
    BlobFormat.HEX: "hex",
    BlobFormat.BASE64: "base64",
    BlobFormat.BASE64URL: "base64url",
    BlobFormat.PEM: "pem",
}


class Decoded(Record):
    """One reading of a blob: the bytes, the encoding, and the PEM label if there was one."""

    data: bytes
    fmt: BlobFormat
    pem_label: str | None

    __slots__ = ("data", "fmt", "pem_label")

    def __init__(self, data: bytes, fmt: BlobFormat, pem_label: str | None = None) -> None:
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "fmt", fmt)
        object.__setattr__(self, "pem_label", pem_label)


def malformed(message: str, what: str, hint: str | None = None) -> MalformedInputError:
    """A MalformedInputError about the input named ``what`` (component ``input``)."""
    return MalformedInputError(f"{what}: {message}", component=COMPONENT, hint=hint)


def is_text(data: bytes) -> bool:
    """True when every byte is printable ASCII or whitespace (the rule's step 1)."""
    return all(b in _TEXT_BYTES for b in data)


def _strip_ws(text: bytes) -> bytes:
    return b"".join(text.split())


def _base64_problem(compact: bytes) -> str | None:
    """Why ``compact`` is not base64 text, or None if it is."""
    chars = frozenset(compact) - frozenset(b"=")
    if not (chars <= _B64_STD or chars <= _B64_URL):
        if chars <= (_B64_STD | _B64_URL):
            return "the text mixes the standard (+/) and URL-safe (-_) base64 alphabets"
        found = bytes(sorted(chars - _B64_STD - _B64_URL)[:5]).decode("ascii")
        return f"the text contains {found!r}, which is neither hex nor base64"
    body = compact.rstrip(b"=")
    if b"=" in body:
        return "'=' padding in the middle of base64 text"
    if len(body) % 4 == 1:
        return f"base64 text has an impossible length ({len(body)} characters)"
    return None


def decode_base64_text(compact: bytes, what: str) -> tuple[bytes, BlobFormat]:
    """Decode whitespace-free base64 (standard or URL-safe, padded or not)."""
    problem = _base64_problem(compact)
    if problem is not None:
        hint = None
        if "impossible length" in problem:
            hint = (
                "one character is missing or extra: the text was cut or changed when it was "
                "copied; copy it again whole"
            )
        elif "neither hex nor base64" in problem or "mixes" in problem:
            hint = "give the file as raw binary, hex, base64, PEM or JSON (see docs/inputs.md)"
        raise malformed(problem, what, hint=hint)
    body = compact.rstrip(b"=")
    fmt = BlobFormat.BASE64
    if not frozenset(body) <= _B64_STD:
        fmt = BlobFormat.BASE64URL
        body = body.translate(bytes.maketrans(b"-_", b"+/"))
    try:
        decoded = binascii.a2b_base64(body + b"=" * (-len(body) % 4), strict_mode=True)
    except binascii.Error as error:
        raise malformed(f"invalid base64 ({error})", what) from None
    return decoded, fmt


def _base64_alternative(compact: bytes) -> bytes | None:
    """The base64 reading of ``compact`` when it has one (used for all-hex-digit text)."""
    if _base64_problem(compact) is not None:
        return None
    try:
        return decode_base64_text(compact, "alternative")[0]
    except MalformedInputError:
        return None


def pem_labels(text: bytes) -> list[str]:
    """The labels of the ``-----BEGIN <LABEL>-----`` blocks in ``text``, in order."""
    return [label.decode() for label, _, _ in _PEM_BLOCK.findall(text)]


def _pem_candidate(text: bytes, what: str) -> Decoded | None:
    blocks = _PEM_BLOCK.findall(text)
    if not blocks:
        return None
    if len(blocks) != 1:
        labels = ", ".join(label.decode() for label, _, _ in blocks)
        raise malformed(f"expected one PEM block, found {len(blocks)} ({labels})", what)
    begin, body, end = blocks[0]
    if begin != end:
        raise malformed(f"PEM block BEGIN {begin.decode()} ends with END {end.decode()}", what)
    lines = [ln for ln in body.splitlines() if ln.strip()]
    if any(b":" in ln for ln in lines):
        raise malformed("PEM headers (key: value lines) are not supported", what)
    decoded, _ = decode_base64_text(_strip_ws(body), what)
    return Decoded(decoded, BlobFormat.PEM, pem_label=begin.decode())


def decode_text_candidates(text: bytes, what: str) -> list[Decoded]:
    """Every reading of printable ``text`` under the rule, the rule's own reading first.

    The only text with two readings is all-hex-digit text that is also valid base64; its
    base64 reading comes second. Errors are those of the rule's reading.
    """
    pem = _pem_candidate(text, what)
    if pem is not None:
        return [pem]
    compact = _strip_ws(text)
    if compact[:2] in (b"0x", b"0X"):
        compact = compact[2:]
        if not compact or not frozenset(compact) <= _HEX_DIGITS:
            raise malformed("text starts with 0x but is not all hex digits", what)
        if len(compact) % 2:
            raise malformed(f"hex text has an odd number of digits ({len(compact)})", what)
        return [Decoded(bytes.fromhex(compact.decode("ascii")), BlobFormat.HEX)]
    if not compact:
        raise malformed("the input is empty (only whitespace)", what)
    if frozenset(compact) <= _HEX_DIGITS:
        if len(compact) % 2:
            raise malformed(f"hex text has an odd number of digits ({len(compact)})", what)
        readings = [Decoded(bytes.fromhex(compact.decode("ascii")), BlobFormat.HEX)]
        alternative = _base64_alternative(compact)
        if alternative:
            readings.append(Decoded(alternative, BlobFormat.BASE64))
        return readings
    decoded, fmt = decode_base64_text(compact, what)
    return [Decoded(decoded, fmt)]


def decode_blob_with_format(data: bytes, *, what: str) -> tuple[bytes, BlobFormat]:
    """Decode ``data`` per the module's detection rule; return the bytes and the format found."""
    data = bytes(data)
    if not data:
        raise malformed("the input is empty", what)
    if not is_text(data.removeprefix(BOM)):
        return data, BlobFormat.RAW
    first = decode_text_candidates(data.removeprefix(BOM), what)[0]
    if not first.data:
        raise malformed(f"the {first.fmt.value} text decodes to nothing", what)
    return first.data, first.fmt


def decode_blob(data: bytes, *, what: str) -> bytes:
    """Raw binary, hex, base64 (standard/URL-safe) or a PEM-style block, decoded to bytes.

    ``what`` names the input in error messages (see the module docstring for the rule).
    """
    return decode_blob_with_format(data, what=what)[0]
