"""Reading Azure vTPM evidence as the tools that hand it out write it.

``cairn verify azure EVIDENCE`` reads, each strictly (unknown or missing members, wrong types,
non-canonical encodings are malformed input, exit 10):

* trustee's az-snp-vtpm evidence JSON: v0 ``{"quote", "report", "vcek"}`` (byte arrays, the VCEK
  as PEM) and v1/v2 ``{"version", "tpm_quote", "hcl_report", "vcek"}`` (hex quote, base64url
  report and VCEK DER);
* trustee's az-tdx-vtpm evidence JSON: v0 ``{"tpm_quote", "hcl_report", "td_quote"}`` (byte
  arrays) and v1 ``{"version": 1, "tpm_quote", "hcl_report", "td_quote"}`` (hex, base64url);
* a bare HCL report (binary, as read from the vTPM NV index 0x01400001), with the vTPM quote in
  ``--tpm-quote`` (trustee's quote JSON, hex or byte arrays, or the az-cvm-vtpm crate's bincode
  serialisation) and, on TDX, the TD quote in ``--td-quote`` (any TDX input format).

trustee's vTPM quote carries the RSA signature without its TPM header: it is read as the
``TPMT_SIGNATURE`` RSASSA-SHA256 Azure's vTPM AK makes (the az-cvm-vtpm crate checks it so); its
``pcrs`` are the SHA-256 values of the PCRs the quote selects, in selection order.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from ..documents import parse_json
from ..errors import CairnError, MalformedInputError
from ..inputs import read_tdx_evidence
from ..tpm.structures import TpmAlg, parse_attest
from .hcl import MAGIC
from .verify import AzureEvidence, VtpmQuote

COMPONENT: Final = "input"
RSA_SIGNATURE_SIZES: Final = (256, 384, 512)
MAX_PCRS: Final = 24
_HEX: Final = re.compile(r"(?:[0-9a-fA-F]{2})*")
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]*={0,2}")


@dataclass(frozen=True)
class AzureInput:
    """Evidence read from the user's files, and what it was read as."""

    evidence: AzureEvidence
    vcek: bytes | None
    """The VCEK (DER) the evidence carried (trustee's SEV-SNP evidence), if any."""
    container: str
    """The formats read, as the output names them."""


def _error(what: str, message: str, hint: str | None = None) -> MalformedInputError:
    return MalformedInputError(
        f"{what}: {message}",
        component=COMPONENT,
        hint=hint
        or "see docs/cloud.md (Azure, verifying) for the formats `cairn verify azure` reads",
    )


def _members(doc: dict[str, Any], required: set[str], what: str, form: str) -> None:
    unknown = sorted(set(doc) - required)
    missing = sorted(required - set(doc))
    if unknown or missing:
        problems = [f"unknown member(s) {', '.join(unknown)[:120]}"] if unknown else []
        problems += [f"missing {', '.join(missing)}"] if missing else []
        raise _error(what, f"not {form}: {'; '.join(problems)}")


def _byte_list(value: object, what: str) -> bytes:
    if (
        not isinstance(value, list)
        or not value
        or not all(type(item) is int and 0 <= item <= 255 for item in value)
    ):
        raise _error(what, "must be a non-empty array of integers 0-255")
    return bytes(value)


def _hex(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not value or not _HEX.fullmatch(value):
        raise _error(what, "must be hex text with an even number of digits")
    return bytes.fromhex(value)


def _b64url(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not value or not _B64URL.fullmatch(value):
        raise _error(what, "must be base64url text")
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise _error(what, "is not valid base64url") from None
    if base64.urlsafe_b64encode(decoded).rstrip(b"=") != value.rstrip("=").encode("ascii"):
        raise _error(what, "is not canonical base64url")
    return decoded


def _pem_certificate(value: object, what: str) -> bytes:
    from ..x509.cert import load_certificates  # x509 only when a VCEK is read

    if not isinstance(value, str):
        raise _error(what, "must be a PEM certificate (text)")
    try:
        certs = load_certificates(value.encode("ascii", "replace"))
    except CairnError as error:
        raise _error(what, f"is not a PEM certificate ({error.message})") from None
    if len(certs) != 1:
        raise _error(what, f"holds {len(certs)} certificates; the VCEK is one")
    return certs[0].der


def _rsa_signature(raw: bytes, what: str) -> bytes:
    """trustee's bare RSA signature as the TPMT_SIGNATURE (RSASSA-SHA256) the vTPM made."""
    if len(raw) not in RSA_SIGNATURE_SIZES:
        raise _error(
            what,
            f"is {len(raw)} bytes; an RSA signature of Azure's vTPM AK is "
            f"{' or '.join(map(str, RSA_SIGNATURE_SIZES))} bytes",
        )
    return struct.pack(">HHH", TpmAlg.RSASSA, TpmAlg.SHA256, len(raw)) + raw


def _pcr_map(attest: bytes, values: list[bytes], what: str) -> dict[tuple[str, int], bytes]:
    """trustee's PCR list: the SHA-256 values of the quoted PCRs, in selection order."""
    try:
        selected = [index for bank, index in parse_attest(attest).selected if bank == "sha256"]
    except CairnError:
        selected = list(range(len(values)))  # the quote check reports the unreadable quote
    if len(values) != len(selected):
        raise _error(
            what,
            f"lists {len(values)} PCR values, but the quote selects {len(selected)} SHA-256 PCRs",
        )
    return {("sha256", index): value for index, value in zip(selected, values, strict=True)}


def _quote(value: object, what: str, decode: Callable[[object, str], bytes]) -> VtpmQuote:
    if not isinstance(value, dict):
        raise _error(what, "must be a JSON object")
    _members(
        value, {"signature", "message", "pcrs"}, what, "a vTPM quote (signature, message, pcrs)"
    )
    pcrs = value["pcrs"]
    if not isinstance(pcrs, list) or not 1 <= len(pcrs) <= MAX_PCRS:
        raise _error(f"{what}.pcrs", f"must be a list of 1 to {MAX_PCRS} PCR values")
    values = [decode(item, f"{what}.pcrs[{i}]") for i, item in enumerate(pcrs)]
    if any(len(v) != 32 for v in values):
        raise _error(f"{what}.pcrs", "every value must be a 32-byte SHA-256 PCR value")
    attest = decode(value["message"], f"{what}.message")
    signature = _rsa_signature(decode(value["signature"], f"{what}.signature"), f"{what}.signature")
    return VtpmQuote(attest=attest, signature=signature, pcrs=_pcr_map(attest, values, what))


def read_quote_file(data: bytes, what: str) -> tuple[VtpmQuote, str]:
    """``--tpm-quote``: trustee's quote JSON (hex or byte arrays) or the crate's bincode."""
    if data.lstrip()[:1] == b"{":
        doc = parse_json(data, what, component=COMPONENT)
        if not isinstance(doc, dict):
            raise _error(what, "must be a JSON object")
        hexed = isinstance(doc.get("message"), str)
        quote = _quote(doc, what, _hex if hexed else _byte_list)
        return quote, f"trustee vTPM quote JSON ({'hex' if hexed else 'byte arrays'})"
    return _bincode_quote(data, what), "az-cvm-vtpm bincode vTPM quote"


def _bincode_quote(data: bytes, what: str) -> VtpmQuote:
    """``Quote { signature: Vec<u8>, message: Vec<u8>, pcrs: Vec<[u8; 32]> }`` in bincode:
    u64 little-endian lengths, the PCRs as fixed 32-byte arrays."""
    offset = 0

    def take(size: int, field: str) -> bytes:
        nonlocal offset
        if size > len(data) - offset:
            raise _error(what, f"cut off in {field} (needs {size} bytes at offset {offset})")
        chunk = data[offset : offset + size]
        offset += size
        return chunk

    def length(field: str, limit: int) -> int:
        value = int.from_bytes(take(8, field), "little")
        if value > limit:
            raise _error(what, f"{field} of {value} is more than {limit}")
        return value

    signature = take(length("signature length", 4096), "signature")
    attest = take(length("message length", 4096), "message")
    values = [take(32, f"pcrs[{i}]") for i in range(length("PCR count", MAX_PCRS))]
    if offset != len(data):
        raise _error(what, f"{len(data) - offset} bytes after the quote")
    return VtpmQuote(
        attest=attest,
        signature=_rsa_signature(signature, f"{what} signature"),
        pcrs=_pcr_map(attest, values, what),
    )


def _td_quote(data: bytes, what: str) -> bytes:
    return read_tdx_evidence(data).quote.raw


def _snp_v0(doc: dict[str, Any], what: str) -> AzureInput:
    _members(doc, {"quote", "report", "vcek"}, what, "trustee az-snp-vtpm evidence v0")
    return AzureInput(
        evidence=AzureEvidence(
            hcl_report=_byte_list(doc["report"], f"{what}: report"),
            vtpm_quote=_quote(doc["quote"], f"{what}: quote", _byte_list),
        ),
        vcek=_pem_certificate(doc["vcek"], f"{what}: vcek"),
        container="trustee az-snp-vtpm evidence v0: report, quote, vcek PEM",
    )


def _snp_v1(doc: dict[str, Any], what: str, version: int) -> AzureInput:
    _members(
        doc, {"version", "tpm_quote", "hcl_report", "vcek"}, what, "trustee az-snp-vtpm evidence"
    )
    return AzureInput(
        evidence=AzureEvidence(
            hcl_report=_b64url(doc["hcl_report"], f"{what}: hcl_report"),
            vtpm_quote=_quote(doc["tpm_quote"], f"{what}: tpm_quote", _hex),
        ),
        vcek=_b64url(doc["vcek"], f"{what}: vcek"),
        container=f"trustee az-snp-vtpm evidence v{version}: hcl_report, tpm_quote, vcek DER",
    )


def _tdx_v0(doc: dict[str, Any], what: str) -> AzureInput:
    _members(doc, {"tpm_quote", "hcl_report", "td_quote"}, what, "trustee az-tdx-vtpm evidence v0")
    return AzureInput(
        evidence=AzureEvidence(
            hcl_report=_byte_list(doc["hcl_report"], f"{what}: hcl_report"),
            td_quote=_td_quote(_byte_list(doc["td_quote"], f"{what}: td_quote"), what),
            vtpm_quote=_quote(doc["tpm_quote"], f"{what}: tpm_quote", _byte_list),
        ),
        vcek=None,
        container="trustee az-tdx-vtpm evidence v0: hcl_report, td_quote, tpm_quote",
    )


def _tdx_v1(doc: dict[str, Any], what: str) -> AzureInput:
    _members(
        doc,
        {"version", "tpm_quote", "hcl_report", "td_quote"},
        what,
        "trustee az-tdx-vtpm evidence",
    )
    return AzureInput(
        evidence=AzureEvidence(
            hcl_report=_b64url(doc["hcl_report"], f"{what}: hcl_report"),
            td_quote=_td_quote(_b64url(doc["td_quote"], f"{what}: td_quote"), what),
            vtpm_quote=_quote(doc["tpm_quote"], f"{what}: tpm_quote", _hex),
        ),
        vcek=None,
        container="trustee az-tdx-vtpm evidence v1: hcl_report, td_quote, tpm_quote",
    )


def _evidence_json(data: bytes, what: str) -> AzureInput:
    doc = parse_json(data, what, component=COMPONENT)
    if not isinstance(doc, dict):
        raise _error(what, "a JSON document that is not an object is not Azure evidence")
    if doc.get("format") == "cairn-evidence":
        raise _error(
            what,
            "this is a Cairn evidence bundle",
            hint="verify it with `cairn verify evidence FILE --nonce HEX`",
        )
    version = doc.get("version", 0)
    if type(version) is not int:
        raise _error(what, "version must be an integer")
    tdx = "td_quote" in doc
    if tdx and version == 0:
        return _tdx_v0(doc, what)
    if tdx and version == 1:
        return _tdx_v1(doc, what)
    if not tdx and version == 0:
        return _snp_v0(doc, what)
    if not tdx and version in (1, 2):
        return _snp_v1(doc, what, version)
    platform = "az-tdx-vtpm" if tdx else "az-snp-vtpm"
    raise _error(
        what,
        f"trustee {platform} evidence version {version} is not one Cairn reads",
        hint="Cairn reads az-snp-vtpm evidence v0-v2 and az-tdx-vtpm evidence v0-v1",
    )


def read_azure_input(
    data: bytes,
    what: str,
    *,
    tpm_quote: tuple[bytes, str] | None = None,
    td_quote: tuple[bytes, str] | None = None,
) -> AzureInput:
    """The evidence in ``data`` (a trustee JSON or a bare HCL report) and the parts given in
    separate files (``(bytes, name)``): the parts of a trustee JSON may not be given twice."""
    if data.lstrip()[:1] in (b"{", b"["):
        found = _evidence_json(data, what)
        given = [
            name for name, part in (("--tpm-quote", tpm_quote), ("--td-quote", td_quote)) if part
        ]
        if given:
            raise _error(
                what,
                f"the evidence JSON carries its own quotes; {' and '.join(given)} would replace "
                "one of them",
                hint="give either the evidence JSON alone, or the bare HCL report with the quotes",
            )
        return found
    if data[:4] != MAGIC:
        raise _error(
            what,
            "neither trustee Azure evidence JSON nor an HCL report (which starts with 'HCLA')",
        )
    if tpm_quote is None:
        raise _error(
            what,
            "an HCL report alone is not enough: the vTPM quote makes the evidence fresh and "
            "carries the PCRs",
            hint="give the vTPM quote with --tpm-quote FILE (trustee's quote JSON or "
            "az-cvm-vtpm's quote.bin)",
        )
    quote, quote_form = read_quote_file(*tpm_quote)
    parts = [f"HCL report (binary) + {quote_form}"]
    td = None
    if td_quote is not None:
        td = _td_quote(*td_quote)
        parts.append("TD quote")
    return AzureInput(
        evidence=AzureEvidence(hcl_report=bytes(data), td_quote=td, vtpm_quote=quote),
        vcek=None,
        container=" + ".join(parts),
    )
