"""Reading TDX evidence: find the DCAP quote in any accepted format.

Containers (:mod:`.formats` has the rules): ``tdx-quote`` and ``dstack-tdx``, under any outer
layer (:mod:`.outer`). Azure HCL reports (a TD report, not a quote) and Oak TDX evidence are
named and refused. The quote is parsed strictly (:func:`cairn_verifier.tdx.quote.parse_quote`);
nothing in it is trusted here.
"""

from __future__ import annotations

import struct

from ..errors import MalformedInputError
from ..records import Record
from ..tdx.quote import HEADER_SIZE, Quote, TeeType, parse_quote
from .base import Candidate, Layer, Layered, Platform, input_error
from .dstack import TDX_VARIANTS, ScaleError, looks_like_dstack, read_dstack
from .formats import known
from .hcl import HCL_MAGIC, HCL_REPORT_TYPE_TDX, TD_REPORT_HINT, check_hcl
from .oak import TeePlatform, read_oak_evidence
from .protobuf import WireError
from .reader import Found, OtherPlatform, read_evidence

WHAT = Platform.TDX.evidence
_KEY_TYPES = (2, 3)

ACCEPTED = (
    "accepted: a DCAP quote v4 or v5 with TEE type 0x81, alone or in a dstack attestation; as "
    "raw binary, hex, base64, PEM or JSON (docs/inputs.md)"
)


class TdxEvidence(Layered, Record):
    """The quote found in an input (parsed) and the formats it was found in."""

    quote: Quote
    layers: tuple[Layer, ...]

    __slots__ = ("layers", "quote")

    def __init__(self, quote: Quote, layers: tuple[Layer, ...]) -> None:
        object.__setattr__(self, "quote", quote)
        object.__setattr__(self, "layers", layers)


def _header(data: bytes) -> tuple[int, int, int] | None:
    if len(data) < 8:
        return None
    version, key_type, tee_type = struct.unpack_from("<HHI", data, 0)
    return version, key_type, tee_type


def _quote_layer(name: str, quote: Quote, prefix: str = "") -> Layer:
    detail = f"{prefix}v{quote.header.version}, {len(quote.raw)} bytes"
    if quote.trailing:
        zeros = " zero" if not any(quote.trailing) else ""
        detail += f"; {len(quote.trailing)}{zeros} bytes after the quote not read"
    return Layer(known(name), detail)


def detect_quote(data: bytes) -> Found | None:
    header = _header(data)
    if header is None or header[1] not in _KEY_TYPES or header[2] != TeeType.TDX:
        return None
    quote = parse_quote(data)
    return Found(_quote_layer("tdx-quote", quote), quote.raw + quote.trailing)


def detect_dstack(data: bytes) -> Found | None:
    if not looks_like_dstack(data) or data[1] not in TDX_VARIANTS:
        return None
    try:
        evidence = read_dstack(data)
    except ScaleError:
        return None
    header = _header(evidence.payload)
    if header is None or header[1] not in _KEY_TYPES or header[2] != TeeType.TDX:
        return None  # the first field does not start with a TDX quote header: not claimed
    quote = parse_quote(evidence.payload)
    prefix = f"SCALE V0 {evidence.variant_name}, quote at offset {evidence.offset}, "
    layer = _quote_layer("dstack-tdx", quote, prefix)
    rest = f"; {evidence.trailing} bytes after it (event log, config"
    rest += ", TPM quote" if evidence.variant == 1 else ""
    layer = Layer(layer.name, layer.detail + rest + ") not read")
    return Found(layer, evidence.payload)


def detect_hcl(data: bytes) -> Found | None:
    if data[:4] != HCL_MAGIC:
        return None
    if check_hcl(data, WHAT) == HCL_REPORT_TYPE_TDX:
        raise input_error(
            "this is an Azure vTPM HCL report carrying a TD report, not a TDX quote",
            WHAT,
            hint=TD_REPORT_HINT,
        )
    return None  # an SEV-SNP HCL report: named by the SEV-SNP reader


def detect_oak(data: bytes) -> Found | None:
    if data[:1] != b"\x0a":
        return None
    try:
        root = read_oak_evidence(data)
    except WireError:
        return None
    if root.platform == TeePlatform.INTEL_TDX:
        raise input_error(
            "this is Oak evidence from an Intel TDX platform; Cairn reads Oak evidence only "
            "from SEV-SNP platforms",
            WHAT,
            hint="verify the TDX quote itself, in one of the formats of docs/inputs.md",
        )
    return None


DETECTORS = (detect_hcl, detect_oak, detect_dstack, detect_quote)


def unrecognized(candidate: Candidate) -> MalformedInputError:
    data = candidate.data
    where = f"got {len(data)} bytes{candidate.encoding_note}"
    header = _header(data)
    if header is None or len(data) < HEADER_SIZE:
        return input_error(
            f"{where}, shorter than a quote header ({HEADER_SIZE} bytes); {ACCEPTED}",
            WHAT,
            hint="the data is cut off or is not a quote",
        )
    version, key_type, tee_type = header
    return input_error(
        f"{where} that do not start like a TDX quote (version {version}, attestation key type "
        f"{key_type}, TEE type 0x{tee_type:08x}; a TDX quote has key type 2 and TEE type "
        f"0x00000081); {ACCEPTED}",
        WHAT,
        hint="if the quote sits inside another structure, take it out first (docs/inputs.md "
        "lists the containers Cairn opens itself)",
    )


def read_tdx(data: bytes, other: OtherPlatform | None) -> TdxEvidence:
    """The TDX quote in ``data``, parsed; ``other`` names the SEV-SNP evidence it may be instead."""
    match = read_evidence(data, Platform.TDX, DETECTORS, unrecognized, other)
    return TdxEvidence(parse_quote(match.found.payload), match.layers)
