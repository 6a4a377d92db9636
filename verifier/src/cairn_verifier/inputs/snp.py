"""Reading SEV-SNP evidence: find the 1184-byte report in any accepted format.

Containers (:mod:`.formats` has the rules): ``snp-report``, ``report+cert-table``,
``azure-hcl``, ``dstack-snp``, ``oak-evidence-protobuf``; under any outer layer
(:mod:`.outer`). The report is returned as bytes and parsed by the caller; nothing here trusts
it. Certificates found in a certificate table are returned for the verifier to check like any
supplied certificate (they chain to AMD's pinned ARK or fail).
"""

from __future__ import annotations

import struct

from ..errors import CairnError, MalformedInputError, ParseError
from ..records import Record
from ..snp.report import REPORT_SIZE, SIG_ALGO_ECDSA_P384_SHA384, SUPPORTED_VERSIONS, parse_report
from .base import Candidate, Layer, Layered, Platform, input_error
from .dstack import SNP_VARIANT, ScaleError, looks_like_dstack, read_dstack
from .formats import known
from .hcl import (
    HCL_CLAIMS_OFFSET,
    HCL_HEADER_SIZE,
    HCL_MAGIC,
    HCL_REPORT_TYPE_SNP,
    HCL_REPORT_TYPE_TDX,
    TD_REPORT_HINT,
    check_hcl,
)
from .oak import TeePlatform, read_oak_evidence
from .protobuf import WireError
from .reader import Found, OtherPlatform, read_evidence

WHAT = Platform.SNP.evidence

ACCEPTED = (
    f"accepted: a {REPORT_SIZE}-byte SEV-SNP report, alone or followed by its certificate "
    "table, or inside an Azure vTPM HCL report, a dstack attestation or an Oak evidence "
    "protobuf; as raw binary, hex, base64, PEM or JSON (docs/inputs.md)"
)


class SnpEvidence(Layered, Record):
    """The report found in an input, the formats it was found in, and certificates it carried."""

    report: bytes
    layers: tuple[Layer, ...]
    certificates: tuple[bytes, ...]

    __slots__ = ("certificates", "layers", "report")

    def __init__(
        self, report: bytes, layers: tuple[Layer, ...], certificates: tuple[bytes, ...] = ()
    ) -> None:
        object.__setattr__(self, "report", report)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "certificates", certificates)


# --------------------------------------------------------------------------- Azure HCL


def detect_hcl(data: bytes) -> Found | None:
    if data[:4] != HCL_MAGIC:
        return None
    report_type = check_hcl(data, WHAT)
    if report_type == HCL_REPORT_TYPE_TDX:
        raise input_error(
            "this Azure vTPM HCL report carries an Intel TDX TD report, not an SEV-SNP report",
            WHAT,
            hint=TD_REPORT_HINT,
        )
    if report_type != HCL_REPORT_TYPE_SNP:
        raise input_error(
            f"Azure HCL report type is {report_type}; an SEV-SNP report has type "
            f"{HCL_REPORT_TYPE_SNP} (and a TDX TD report type {HCL_REPORT_TYPE_TDX})",
            WHAT,
        )
    detail = f"report at offset 0x{HCL_HEADER_SIZE:x}; runtime claims not read"
    return Found(Layer(known("azure-hcl"), detail), data[HCL_HEADER_SIZE:HCL_CLAIMS_OFFSET])


# --------------------------------------------------------------------------- dstack


#: V0 tag, DstackAmdSevSnp, SCALE compact length 1184 (two-byte mode: 1184 << 2 | 1 = 0x1281).
DSTACK_SNP_PREFIX = b"\x00\x03\x81\x12"


def detect_dstack(data: bytes) -> Found | None:
    if not looks_like_dstack(data) or data[1] != SNP_VARIANT:
        return None
    if data[:4] != DSTACK_SNP_PREFIX:
        return None  # no report of the right size follows; not claimed
    try:
        evidence = read_dstack(data)
    except ScaleError as error:
        raise input_error(f"dstack attestation (DstackAmdSevSnp): {error}", WHAT) from None
    if len(evidence.payload) != REPORT_SIZE:
        raise input_error(
            f"dstack attestation (DstackAmdSevSnp) holds a {len(evidence.payload)}-byte report; "
            f"an SEV-SNP report is {REPORT_SIZE} bytes",
            WHAT,
        )
    detail = (
        f"SCALE V0 DstackAmdSevSnp, report at offset {evidence.offset}; {evidence.trailing} "
        "bytes after it (certificates, mr_config, event log, config) not read"
    )
    return Found(Layer(known("dstack-snp"), detail), evidence.payload)


# --------------------------------------------------------------------------- Oak


def detect_oak(data: bytes) -> Found | None:
    if data[:1] != b"\x0a":
        return None
    try:
        root = read_oak_evidence(data)
    except WireError:
        return None
    if root.platform != TeePlatform.AMD_SEV_SNP:
        raise input_error(
            f"this is Oak evidence from platform {root.platform_name}, not AMD SEV-SNP",
            WHAT,
            hint="Cairn reads Oak evidence only when its root layer is an SEV-SNP report",
        )
    if len(root.report) != REPORT_SIZE:
        raise input_error(
            f"Oak evidence (AMD_SEV_SNP) holds a {len(root.report)}-byte attestation report; "
            f"an SEV-SNP report is {REPORT_SIZE} bytes",
            WHAT,
        )
    others = ", ".join(map(str, root.other_fields))
    detail = "report from root_layer, field 1.2" + (f"; fields {others} not read" if others else "")
    return Found(Layer(known("oak-evidence-protobuf"), detail), root.report)


# --------------------------------------------------------------------------- certificate table


def _table_spans(tail: bytes) -> tuple[int, list[tuple[int, int]]]:
    """(end of the table header, [(offset, length)] of its entries); the table is valid."""
    from ..snp.cert_table import ENTRY_SIZE

    spans = []
    pos = 0
    while tail[pos : pos + ENTRY_SIZE] != bytes(ENTRY_SIZE):
        offset, length = struct.unpack_from("<II", tail, pos + 16)
        spans.append((offset, length))
        pos += ENTRY_SIZE
    return pos + ENTRY_SIZE, spans


def cert_table_problem(tail: bytes) -> str | None:
    """Why ``tail`` is not a certificate table Cairn reads, or None if it is one."""
    from ..snp.cert_table import ENTRY_SIZE, read_cert_table

    if len(tail) < ENTRY_SIZE:
        return f"{len(tail)} bytes cannot hold a table ({ENTRY_SIZE}-byte entries)"
    try:
        read_cert_table(tail)
    except ParseError as error:
        return error.message
    if not any(tail):
        return None
    header_end, spans = _table_spans(tail)
    covered = bytearray(len(tail))
    covered[:header_end] = b"\x01" * header_end
    for offset, length in spans:
        covered[offset : offset + length] = b"\x01" * length
    stray = next((i for i, byte in enumerate(tail) if byte and not covered[i]), None)
    if stray is not None:
        return f"non-zero byte at offset {stray} outside the table and its certificates"
    return None


def starts_like_report(data: bytes) -> bool:
    """VERSION 2-5 and SIGNATURE_ALGO 1 (ECDSA P-384): the two header fields every report has."""
    version, algo = struct.unpack_from("<I", data, 0)[0], struct.unpack_from("<I", data, 0x34)[0]
    return version in SUPPORTED_VERSIONS and algo == SIG_ALGO_ECDSA_P384_SHA384


def detect_cert_table(data: bytes) -> Found | None:
    if len(data) <= REPORT_SIZE or not starts_like_report(data):
        return None
    tail = data[REPORT_SIZE:]
    if cert_table_problem(tail) is not None:
        return None
    from ..snp.cert_table import read_cert_table

    entries = read_cert_table(tail)
    roles = [entry.role.name for entry in entries if entry.role is not None]
    unknown = len(entries) - len(roles)
    if entries:
        detail = f"certificates {', '.join(roles) or 'none'}"
        if unknown:
            detail += (
                f"; {unknown} entr{'y' if unknown == 1 else 'ies'} with unknown GUIDs not read"
            )
    else:
        detail = f"empty certificate table ({len(tail)} zero bytes)"
    certs = tuple(entry.data for entry in entries if entry.role is not None)
    return Found(Layer(known("report+cert-table"), detail), data[:REPORT_SIZE], certs)


# --------------------------------------------------------------------------- bare report


def detect_bare(data: bytes) -> Found | None:
    if len(data) != REPORT_SIZE:
        return None
    return Found(Layer(known("snp-report")), data)


DETECTORS = (detect_hcl, detect_dstack, detect_oak, detect_cert_table, detect_bare)


# --------------------------------------------------------------------------- errors


def _keep_first(candidate: Candidate) -> str:
    """How to keep the first 1184 bytes of this candidate's bytes, as a shell example."""
    names = [layer.name for layer in candidate.layers]
    keep = f"head -c {REPORT_SIZE}"
    if names == ["raw"]:
        return f"`{keep} FILE > report.bin`"
    if names == ["hex"]:
        return f"`xxd -r -p FILE | {keep} > report.bin`"
    if names == ["base64"]:
        return f"`base64 -d FILE | {keep} > report.bin`"
    return f"decode it ({' > '.join(names)}) and keep the first {REPORT_SIZE} bytes"


def unrecognized(candidate: Candidate) -> MalformedInputError:
    data = candidate.data
    size = len(data)
    message = f"got {size} bytes{candidate.encoding_note}, which is not a report size; {ACCEPTED}"
    if size < REPORT_SIZE:
        hint = (
            f"an SEV-SNP report is {REPORT_SIZE} bytes and this is shorter: the data is cut off "
            "or is not a report"
        )
        return input_error(message, WHAT, hint=hint)
    try:
        report = parse_report(data[:REPORT_SIZE])
    except CairnError as error:
        hint = (
            f"no SEV-SNP report starts at offset 0 ({error.message}); if the report sits "
            f"inside another structure, take its {REPORT_SIZE} bytes out (docs/inputs.md lists "
            "the containers Cairn opens itself)"
        )
        return input_error(message, WHAT, hint=hint)
    problem = cert_table_problem(data[REPORT_SIZE:]) or "not a certificate table"
    hint = (
        f"the first {REPORT_SIZE} bytes are an SEV-SNP report (version {report.version}) but "
        f"the {size - REPORT_SIZE} bytes after it are not a certificate table ({problem}); "
        f"if you do not need them, keep the report alone: {_keep_first(candidate)}"
    )
    return input_error(message, WHAT, hint=hint)


# --------------------------------------------------------------------------- reader


def read_snp(data: bytes, other: OtherPlatform | None) -> SnpEvidence:
    """The SEV-SNP report in ``data``; ``other`` names the TDX evidence it may be instead."""
    match = read_evidence(data, Platform.SNP, DETECTORS, unrecognized, other)
    return SnpEvidence(match.found.payload, match.layers, match.found.certificates)
