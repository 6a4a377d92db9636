"""Decoding user-supplied evidence files: raw binary, hex, base64 or a PEM-style block.

Detection rule (deterministic, in this order):

1. If any byte is outside printable ASCII and whitespace, the data is raw binary. Attestation
   structures always contain zero bytes (reserved fields, padding), so they are never mistaken
   for text; a size-based preference for raw was rejected because the hex text of a 592-byte
   blob is exactly 1184 characters long.
2. Otherwise it is text (a leading UTF-8 BOM is ignored):
   * with ``-----BEGIN <LABEL>-----`` armour: the base64 body of the single block (text around
     the block, such as an openpcc txtar header, is ignored);
   * else, whitespace removed and an optional ``0x`` prefix dropped: hex if every character is a
     hex digit (and the count is even) — hex wins over base64 because hex digits are also base64
     characters, and real base64 of evidence is never all hex digits;
   * else base64, standard or URL-safe alphabet, padded or not, line-wrapped or not;
   * anything else is a MalformedInputError saying what was found.

``extract_snp_report`` then finds the SEV-SNP report inside what was decoded.
"""

from __future__ import annotations

import binascii
import re
import struct
from enum import StrEnum

from .errors import MalformedInputError

COMPONENT = "input"
SNP_REPORT_SIZE = 1184

_TEXT_BYTES = frozenset(range(0x20, 0x7F)) | frozenset(b"\t\n\r\x0b\x0c")
_BOM = b"\xef\xbb\xbf"
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


def _malformed(message: str, what: str, hint: str | None = None) -> MalformedInputError:
    return MalformedInputError(f"{what}: {message}", component=COMPONENT, hint=hint)


def _is_text(data: bytes) -> bool:
    return all(b in _TEXT_BYTES for b in data)


def _strip_ws(text: bytes) -> bytes:
    return b"".join(text.split())


def _decode_base64(compact: bytes, what: str) -> tuple[bytes, BlobFormat]:
    body = compact.rstrip(b"=")
    if b"=" in body:
        raise _malformed("'=' padding in the middle of base64 text", what)
    chars = frozenset(body)
    if chars <= _B64_STD:
        fmt = BlobFormat.BASE64
    elif chars <= _B64_URL:
        fmt = BlobFormat.BASE64URL
        body = body.translate(bytes.maketrans(b"-_", b"+/"))
    else:
        mixed = chars <= (_B64_STD | _B64_URL)
        bad = sorted(chars - _B64_STD - _B64_URL)
        detail = (
            "mixes the standard (+/) and URL-safe (-_) base64 alphabets"
            if mixed
            else f"contains {bytes(bad[:5]).decode('ascii')!r}, which is neither hex nor base64"
        )
        raise _malformed(
            f"the text {detail}",
            what,
            hint="give the file as raw binary, hex or base64",
        )
    if len(body) % 4 == 1:
        raise _malformed(
            f"base64 text has an impossible length ({len(body)} characters)",
            what,
            hint="the text looks truncated",
        )
    try:
        decoded = binascii.a2b_base64(body + b"=" * (-len(body) % 4), strict_mode=True)
    except binascii.Error as error:
        raise _malformed(f"invalid base64 ({error})", what) from None
    return decoded, fmt


def _decode_text(text: bytes, what: str) -> tuple[bytes, BlobFormat]:
    blocks = _PEM_BLOCK.findall(text)
    if blocks:
        if len(blocks) != 1:
            labels = ", ".join(label.decode() for label, _, _ in blocks)
            raise _malformed(f"expected one PEM block, found {len(blocks)} ({labels})", what)
        begin, body, end = blocks[0]
        if begin != end:
            raise _malformed(f"PEM block BEGIN {begin.decode()} ends with END {end.decode()}", what)
        lines = [ln for ln in body.splitlines() if ln.strip()]
        if any(b":" in ln for ln in lines):
            raise _malformed("PEM headers (key: value lines) are not supported", what)
        decoded, _ = _decode_base64(_strip_ws(body), what)
        return decoded, BlobFormat.PEM
    compact = _strip_ws(text)
    if compact[:2] in (b"0x", b"0X"):
        compact = compact[2:]
        if not compact or not frozenset(compact) <= _HEX_DIGITS:
            raise _malformed("text starts with 0x but is not all hex digits", what)
    if not compact:
        raise _malformed("the input is empty (only whitespace)", what)
    if frozenset(compact) <= _HEX_DIGITS:
        if len(compact) % 2:
            raise _malformed(f"hex text has an odd number of digits ({len(compact)})", what)
        return bytes.fromhex(compact.decode("ascii")), BlobFormat.HEX
    return _decode_base64(compact, what)


def decode_blob_with_format(data: bytes, *, what: str) -> tuple[bytes, BlobFormat]:
    """Decode ``data`` per the module's detection rule; return the bytes and the format found."""
    data = bytes(data)
    if not data:
        raise _malformed("the input is empty", what)
    if not _is_text(data.removeprefix(_BOM)):
        return data, BlobFormat.RAW
    decoded, fmt = _decode_text(data.removeprefix(_BOM), what)
    if not decoded:
        raise _malformed(f"the {fmt.value} text decodes to nothing", what)
    return decoded, fmt


def decode_blob(data: bytes, *, what: str) -> bytes:
    """Raw binary, hex, base64 (standard/URL-safe) or a PEM-style block, decoded to bytes.

    ``what`` names the input in error messages (see the module docstring for the rule).
    """
    return decode_blob_with_format(data, what=what)[0]


# --------------------------------------------------------------------------------------------
# SEV-SNP report containers
# --------------------------------------------------------------------------------------------

# Azure vTPM "HCL report": a 32-byte attestation header ("HCLA", version, report size, request
# type, status, reserved), the 1184-byte hardware report area, then the runtime-claims header
# (data size, version, report type, hash type, variable data size) and the variable data.
HCL_MAGIC = b"HCLA"
HCL_HEADER_SIZE = 0x20
HCL_HW_REPORT_SIZE = 1184
HCL_CLAIMS_OFFSET = HCL_HEADER_SIZE + HCL_HW_REPORT_SIZE
HCL_MIN_SIZE = HCL_CLAIMS_OFFSET + 20
HCL_REPORT_TYPE_SNP = 2
HCL_REPORT_TYPE_TDX = 4

_ACCEPTED = (
    f"accepted: a {SNP_REPORT_SIZE}-byte SEV-SNP report, or an Azure vTPM HCL report "
    f"(starts with 'HCLA', at least {HCL_MIN_SIZE} bytes), as raw binary, hex, base64 or a "
    "PEM 'REPORT' block"
)


def _extract_hcl(blob: bytes, what: str) -> bytes:
    if len(blob) < HCL_MIN_SIZE:
        raise _malformed(
            f"Azure HCL report is {len(blob)} bytes, shorter than its fixed part "
            f"({HCL_MIN_SIZE} bytes)",
            what,
            hint="the file looks truncated",
        )
    report_size = struct.unpack_from("<I", blob, 8)[0]
    if not HCL_MIN_SIZE <= report_size <= len(blob):
        raise _malformed(
            f"Azure HCL header gives report size {report_size}, but the data is "
            f"{len(blob)} bytes (and the fixed part is {HCL_MIN_SIZE})",
            what,
            hint="the file looks truncated or is not an HCL report",
        )
    report_type = struct.unpack_from("<I", blob, HCL_CLAIMS_OFFSET + 8)[0]
    if report_type == HCL_REPORT_TYPE_TDX:
        raise _malformed(
            "this Azure HCL report carries an Intel TDX report, not an SEV-SNP report",
            what,
            hint="verify it with the TDX commands",
        )
    if report_type != HCL_REPORT_TYPE_SNP:
        raise _malformed(
            f"Azure HCL report type is {report_type}; an SEV-SNP report has type "
            f"{HCL_REPORT_TYPE_SNP}",
            what,
        )
    return blob[HCL_HEADER_SIZE:HCL_CLAIMS_OFFSET]


def extract_snp_report(blob: bytes) -> tuple[bytes, str]:
    """Find the 1184-byte SEV-SNP report in ``blob``; return it and a description of the container.

    ``blob`` may be the file as given (any encoding ``decode_blob`` accepts) or already decoded.
    Containers: a bare report, or an Azure vTPM HCL report (report at offset 0x20).
    """
    what = "SEV-SNP report"
    data, fmt = decode_blob_with_format(blob, what=what)
    encoding = "" if fmt is BlobFormat.RAW else f" ({fmt.value})"
    if data[:4] == HCL_MAGIC:
        report = _extract_hcl(data, what)
        return report, f"Azure vTPM HCL report{encoding}, SEV-SNP report at offset 0x20"
    if len(data) == SNP_REPORT_SIZE:
        return data, f"SEV-SNP report{encoding}"
    raise _malformed(
        f"got {len(data)} bytes{encoding}, which is not a report size; {_ACCEPTED}",
        what,
        hint="if the file has extra data after the report, cut it to the first 1184 bytes",
    )
