"""Azure vTPM HCL report headers, shared by the SEV-SNP and TDX readers.

Kept apart from :mod:`.snp` so that the TDX reader, which refuses an HCL report holding a TD
report with a hint, does not load the SEV-SNP report parser (docs/performance.md, start-up).
"""

from __future__ import annotations

import struct

from .base import input_error

# Azure vTPM "HCL report": a 32-byte attestation header ("HCLA", version, report size, request
# type, status, reserved), the 1184-byte hardware report area, then the runtime-claims header
# (data size, version, report type, hash type, variable data size) and the variable data.
HCL_MAGIC = b"HCLA"
HCL_HEADER_SIZE = 0x20
HCL_REPORT_AREA = 1184  # the hardware report's area: an SEV-SNP report, or a TDX TD report
HCL_CLAIMS_OFFSET = HCL_HEADER_SIZE + HCL_REPORT_AREA
HCL_MIN_SIZE = HCL_CLAIMS_OFFSET + 20
HCL_REPORT_TYPE_SNP = 2
HCL_REPORT_TYPE_TDX = 4
TD_REPORT_HINT = (
    "an Azure TDX HCL report holds a TD report, which is not signed for remote verification; "
    "verify the whole evidence with `cairn verify azure` (the HCL report with --tpm-quote and "
    "--td-quote, or trustee's az-tdx-vtpm evidence JSON), or the TD quote Azure's quote "
    "service issued for it alone with `cairn verify tdx` (trustee's az-tdx-vtpm evidence "
    "carries it as td_quote, which Cairn reads from the evidence JSON)"
)


def hcl_report_type(blob: bytes) -> int | None:
    """The runtime-claims report type of an HCL report, or None if it is too short to have one."""
    if len(blob) < HCL_MIN_SIZE:
        return None
    value: int = struct.unpack_from("<I", blob, HCL_CLAIMS_OFFSET + 8)[0]
    return value


def check_hcl(blob: bytes, what: str) -> int:
    """Size checks of an HCL report (magic already seen); returns its report type."""
    if len(blob) < HCL_MIN_SIZE:
        raise input_error(
            f"Azure HCL report is {len(blob)} bytes, shorter than its fixed part "
            f"({HCL_MIN_SIZE} bytes)",
            what,
            hint="the HCL report is cut off: read the whole vTPM NV index (0x01400001) again",
        )
    report_size = struct.unpack_from("<I", blob, 8)[0]
    if report_size > len(blob):
        raise input_error(
            f"Azure HCL header gives report size {report_size}, but the data is {len(blob)} bytes",
            what,
            hint="the HCL report is cut off: read the whole vTPM NV index (0x01400001) again",
        )
    if report_size < HCL_MIN_SIZE:
        raise input_error(
            f"Azure HCL header gives report size {report_size}, less than the fixed part "
            f"({HCL_MIN_SIZE} bytes)",
            what,
            hint="the HCL header is corrupt; read the vTPM NV index (0x01400001) again",
        )
    report_type = hcl_report_type(blob)
    assert report_type is not None  # length checked above
    return report_type
