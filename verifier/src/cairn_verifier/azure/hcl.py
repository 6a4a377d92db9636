"""The Azure HCL report: what Azure's paravisor (the HCL) writes into the vTPM's NV index
0x01400001 of a confidential VM.

Layout (little-endian; as Azure's paravisor writes it and kinvolk/azure-cvm-tooling reads it)::

    0x000  attestation header (32 bytes)
           u32 signature "HCLA" | u32 version (1, 2) | u32 report_size | u32 request_type
           u32 status (0) | u32 reserved[3] (0)
    0x020  hardware report area (1184 bytes): the SEV-SNP attestation report (1184 bytes), or
           the TDX TD report (1024 bytes) followed by 160 zero bytes
    0x4c0  IGVM request data (20 bytes)
           u32 data_size (= 20 + variable_data_size) | u32 version (1) | u32 report_type
           (2 SEV-SNP, 4 TDX) | u32 report_data_hash_type (1 SHA-256) | u32 variable_data_size
    0x4d4  variable data: the runtime data (JSON, :mod:`.runtime_data`)
           ... zero bytes up to the size of the NV index

``report_size`` counts everything up to the end of the runtime data. The hardware report's
REPORT_DATA commits to SHA-256 of exactly the runtime data bytes; nothing signs the headers,
which are read only to find the parts (and are checked to be consistent, so that two readers
cannot see two different runtime data).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from ..binary import Reader
from ..errors import MalformedInputError

COMPONENT: Final = "HCL report"
MAGIC: Final = b"HCLA"
HEADER_SIZE: Final = 0x20
HW_REPORT_AREA: Final = 1184
"""The hardware report area: the size of an SEV-SNP report, the larger of the two."""
TD_REPORT_SIZE: Final = 1024
REQUEST_DATA_OFFSET: Final = HEADER_SIZE + HW_REPORT_AREA
REQUEST_DATA_SIZE: Final = 20
RUNTIME_DATA_OFFSET: Final = REQUEST_DATA_OFFSET + REQUEST_DATA_SIZE
HEADER_VERSIONS: Final = (1, 2)
"""HCL attestation header versions seen on Azure (SEV-SNP: 1 and 2; TDX: 2)."""
REQUEST_DATA_VERSION: Final = 1
HASH_TYPE_SHA256: Final = 1
MAX_RUNTIME_DATA: Final = 64 * 1024
"""The runtime data is about 1-2 KiB; more is not an HCL report."""
NV_INDEX: Final = 0x01400001
"""The vTPM NV index the paravisor writes the HCL report into."""

_CUT_HINT = f"the HCL report is cut off: read the whole vTPM NV index (0x{NV_INDEX:08x}) again"


class HclReportType(IntEnum):
    """``report_type`` of the IGVM request data: which hardware report the area holds."""

    SEV_SNP = 2
    TDX = 4

    @property
    def label(self) -> str:
        return "SEV-SNP" if self is HclReportType.SEV_SNP else "TDX"

    @property
    def report_size(self) -> int:
        return HW_REPORT_AREA if self is HclReportType.SEV_SNP else TD_REPORT_SIZE


@dataclass(frozen=True)
class HclReport:
    """A parsed HCL report; ``raw`` is its ``report_size`` bytes (padding excluded)."""

    version: int
    request_type: int
    report_type: HclReportType
    hardware_report: bytes
    """The SEV-SNP report (1184 bytes) or TD report (1024 bytes)."""
    runtime_data: bytes
    """Exactly the bytes the hardware report's REPORT_DATA commits to."""
    raw: bytes
    padding: int
    """Zero bytes after ``report_size`` (the rest of the NV index), not part of the report."""

    @property
    def size(self) -> int:
        return len(self.raw)


def _error(message: str, field: str | None = None, hint: str | None = None) -> MalformedInputError:
    where = f" ({field})" if field else ""
    return MalformedInputError(
        f"Azure HCL report{where}: {message}", component=COMPONENT, hint=hint
    )


def report_size(data: bytes) -> int:
    """The ``report_size`` of the header at the start of ``data`` (MalformedInputError if there
    is no HCL header): where the HCL report ends and whatever follows it begins."""
    data = bytes(data)
    if len(data) < HEADER_SIZE:
        raise _error(
            f"{len(data)} bytes, shorter than its {HEADER_SIZE}-byte header", hint=_CUT_HINT
        )
    if data[:4] != MAGIC:
        raise _error(
            f"does not start with {MAGIC.decode()} (starts with {data[:4].hex()})",
            "signature",
            hint=f"give the contents of the vTPM NV index 0x{NV_INDEX:08x} "
            f"(tpm2_nvread 0x{NV_INDEX:08x})",
        )
    return int.from_bytes(data[8:12], "little")


def parse_hcl_report(data: bytes, *, allow_padding: bool = True) -> HclReport:
    """Parse an HCL report: strict header, request data and sizes; every defect is a
    :class:`MalformedInputError` (exit 10) naming the field.

    ``allow_padding``: bytes after ``report_size`` may follow when they are all zero (the NV
    index is larger than the report); otherwise the data must end with the report.
    """
    data = bytes(data)
    size = report_size(data)
    r = Reader(
        data, "Azure HCL report", order="little", component=COMPONENT, truncated_hint=_CUT_HINT
    )
    r.take(4, "signature")
    version = r.u32("version")
    if version not in HEADER_VERSIONS:
        raise _error(
            f"header version {version} is not one Cairn knows "
            f"({', '.join(map(str, HEADER_VERSIONS))})",
            "version",
            hint="a newer Azure paravisor may write a newer format: upgrade cairn-verifier",
        )
    r.u32("report_size")
    request_type = r.u32("request_type")
    status = r.u32("status")
    if status != 0:
        raise _error(f"status is {status}, not 0: the paravisor reported a failure", "status")
    if any(r.take(12, "reserved")):
        raise _error("reserved header bytes are not zero", "reserved")
    if size < RUNTIME_DATA_OFFSET:
        raise _error(
            f"report_size {size} is smaller than the fixed part ({RUNTIME_DATA_OFFSET} bytes)",
            "report_size",
        )
    if size > len(data):
        raise _error(
            f"report_size is {size} bytes, but only {len(data)} bytes were given",
            "report_size",
            hint=_CUT_HINT,
        )
    area = r.take(HW_REPORT_AREA, "hardware report")
    data_size = r.u32("request data: data_size")
    request_version = r.u32("request data: version")
    if request_version != REQUEST_DATA_VERSION:
        raise _error(
            f"IGVM request data version {request_version}, not {REQUEST_DATA_VERSION}",
            "request data: version",
        )
    type_value = r.u32("request data: report_type")
    try:
        report_type = HclReportType(type_value)
    except ValueError:
        raise _error(
            f"report type {type_value} is neither {HclReportType.SEV_SNP} (SEV-SNP) nor "
            f"{HclReportType.TDX} (TDX)",
            "request data: report_type",
        ) from None
    hash_type = r.u32("request data: report_data_hash_type")
    if hash_type != HASH_TYPE_SHA256:
        raise _error(
            f"runtime data hash type {hash_type} is not {HASH_TYPE_SHA256} (SHA-256), the one "
            "Azure uses and Cairn verifies",
            "request data: report_data_hash_type",
        )
    runtime_size = r.u32("request data: variable_data_size")
    if runtime_size > MAX_RUNTIME_DATA:
        raise _error(
            f"runtime data of {runtime_size} bytes is more than the {MAX_RUNTIME_DATA} allowed",
            "request data: variable_data_size",
        )
    if data_size != REQUEST_DATA_SIZE + runtime_size:
        raise _error(
            f"data_size {data_size} is not {REQUEST_DATA_SIZE} + variable_data_size {runtime_size}",
            "request data: data_size",
        )
    if size != RUNTIME_DATA_OFFSET + runtime_size:
        raise _error(
            f"report_size {size} does not end where the runtime data ends "
            f"({RUNTIME_DATA_OFFSET} + {runtime_size})",
            "report_size",
        )
    runtime_data = r.take(runtime_size, "runtime data")
    hardware_report = area[: report_type.report_size]
    if any(area[report_type.report_size :]):
        raise _error(
            f"bytes after the {report_type.report_size}-byte TD report are not zero",
            "hardware report",
        )
    tail = data[size:]
    if tail and (not allow_padding or any(tail)):
        raise _error(
            f"{len(tail)} bytes follow the report ({size} bytes)"
            + (" and are not all zero" if allow_padding else ""),
            "padding",
            hint="give the HCL report alone, as read from the vTPM NV index",
        )
    return HclReport(
        version=version,
        request_type=request_type,
        report_type=report_type,
        hardware_report=hardware_report,
        runtime_data=runtime_data,
        raw=data[:size],
        padding=len(tail),
    )


def split_bundle_report(report: bytes, *, tdx: bool) -> tuple[bytes, bytes | None]:
    """An evidence bundle's ``tee.report`` of an Azure kind: (HCL report, TD quote).

    SEV-SNP: the HCL report, as read from the NV index (zero padding allowed). TDX: the HCL
    report, exactly its ``report_size`` bytes, then the TD quote (docs/spec/azure-vtpm-v1.md).
    MalformedInputError when there is no HCL header or, on TDX, no quote after it.
    """
    report = bytes(report)
    size = report_size(report)
    if not tdx:
        return report, None
    if len(report) <= size:
        raise _error(
            f"nothing follows the HCL report ({size} bytes of {len(report)}): an azure-tdx-vtpm "
            "report is the HCL report followed by the TD quote",
            "report_size",
        )
    return report[:size], report[size:]
