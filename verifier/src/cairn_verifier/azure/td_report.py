"""The TDX TD report (TDREPORT_STRUCT, 1024 bytes) inside an Azure HCL report, and its
comparison with the body of the TD quote Azure's quote endpoint made from it.

A TD report is MAC'd with a key only the CPU knows: nobody off the machine can check it. The
quoting enclave checks the MAC and copies the report's fields into the quote body it signs. So
the TD report in the HCL report is trustworthy exactly as far as it equals, field by field, the
body of a quote that verifies; and its two SHA-384 hashes must hold (``TEE_TCB_INFO_HASH`` over
TEE_TCB_INFO, ``TEE_INFO_HASH`` over TDINFO), as the TDX module computed them.

Layout (Intel TDX Module ABI, TDREPORT_STRUCT)::

    0    REPORTMACSTRUCT (256): REPORTTYPE (4: type 0x81, subtype, version, reserved),
         reserved (12), CPUSVN (16), TEE_TCB_INFO_HASH (48), TEE_INFO_HASH (48),
         REPORTDATA (64), reserved (32), MAC (32)
    256  TEE_TCB_INFO (239): VALID (8), TEE_TCB_SVN (16), MRSEAM (48), MRSIGNERSEAM (48),
         ATTRIBUTES (8), TEE_TCB_SVN2 (16), reserved (95)
    495  reserved (17)
    512  TDINFO (512): ATTRIBUTES (8), XFAM (8), MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG
         (48 each), RTMR0-3 (48 each), SERVTD_HASH (48), reserved (64)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from ..binary import Reader
from ..errors import MalformedInputError
from ..tdx.quote import TdReport as QuoteBody

COMPONENT: Final = "TD report"
SIZE: Final = 1024
REPORT_TYPE_TDX: Final = 0x81
TEE_TCB_INFO_SIZE: Final = 239
TDINFO_SIZE: Final = 512


@dataclass(frozen=True)
class TdReport:
    """The fields of a TD report that a quote body carries, and its integrity hashes."""

    report_type: bytes
    cpu_svn: bytes
    tee_tcb_info_hash: bytes
    tee_info_hash: bytes
    report_data: bytes
    tee_tcb_info: bytes
    tdinfo: bytes
    tee_tcb_svn: bytes
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: bytes
    tee_tcb_svn2: bytes
    td_attributes: bytes
    xfam: bytes
    mr_td: bytes
    mr_config_id: bytes
    mr_owner: bytes
    mr_owner_config: bytes
    rtmrs: tuple[bytes, bytes, bytes, bytes]
    mr_service_td: bytes

    def hash_problems(self) -> list[str]:
        """Where the report's own SHA-384 hashes do not hold (empty when they do)."""
        problems = []
        if hashlib.sha384(self.tee_tcb_info).digest() != self.tee_tcb_info_hash:
            problems.append("TEE_TCB_INFO_HASH is not SHA-384 of TEE_TCB_INFO")
        if hashlib.sha384(self.tdinfo).digest() != self.tee_info_hash:
            problems.append("TEE_INFO_HASH is not SHA-384 of TDINFO")
        return problems

    def differences(self, body: QuoteBody) -> list[str]:
        """The fields in which this report and the quote body differ (empty when it is the
        quote's report). TEE_TCB_SVN2 and MRSERVICETD are compared when the body has them."""
        pairs: list[tuple[str, bytes, bytes | None]] = [
            ("TEE_TCB_SVN", self.tee_tcb_svn, body.tee_tcb_svn),
            ("MRSEAM", self.mr_seam, body.mr_seam),
            ("MRSIGNERSEAM", self.mr_signer_seam, body.mr_signer_seam),
            ("SEAMATTRIBUTES", self.seam_attributes, body.seam_attributes),
            ("TDATTRIBUTES", self.td_attributes, body.td_attributes.raw),
            ("XFAM", self.xfam, body.xfam.raw),
            ("MRTD", self.mr_td, body.mr_td),
            ("MRCONFIGID", self.mr_config_id, body.mr_config_id),
            ("MROWNER", self.mr_owner, body.mr_owner),
            ("MROWNERCONFIG", self.mr_owner_config, body.mr_owner_config),
            *(
                (f"RTMR{i}", mine, theirs)
                for i, (mine, theirs) in enumerate(zip(self.rtmrs, body.rtmrs, strict=True))
            ),
            ("REPORTDATA", self.report_data, body.report_data),
            ("TEE_TCB_SVN2", self.tee_tcb_svn2, body.tee_tcb_svn2),
            ("MRSERVICETD", self.mr_service_td, body.mr_service_td),
        ]
        return [name for name, mine, theirs in pairs if theirs is not None and mine != theirs]


def parse_td_report(data: bytes) -> TdReport:
    """Parse a 1024-byte TD report; a wrong size or report type is a MalformedInputError."""
    data = bytes(data)
    if len(data) != SIZE:
        raise MalformedInputError(
            f"a TD report is {SIZE} bytes, got {len(data)}", component=COMPONENT
        )
    r = Reader(data, "TD report", order="little", component=COMPONENT)
    report_type = r.take(4, "REPORTTYPE")
    if report_type[0] != REPORT_TYPE_TDX:
        raise r.error(
            f"REPORTTYPE.TYPE is 0x{report_type[0]:02x}, not 0x{REPORT_TYPE_TDX:02x} (a TD)",
            "REPORTTYPE",
            0,
        )
    r.take(12, "reserved")
    cpu_svn = r.take(16, "CPUSVN")
    tee_tcb_info_hash = r.take(48, "TEE_TCB_INFO_HASH")
    tee_info_hash = r.take(48, "TEE_INFO_HASH")
    report_data = r.take(64, "REPORTDATA")
    r.take(32, "reserved")
    r.take(32, "MAC")
    tcb = Reader(
        r.take(TEE_TCB_INFO_SIZE, "TEE_TCB_INFO"),
        "TEE_TCB_INFO",
        order="little",
        component=COMPONENT,
    )
    r.take(17, "reserved")
    info_bytes = r.take(TDINFO_SIZE, "TDINFO")
    r.finish()
    tcb.take(8, "VALID")
    tee_tcb_svn = tcb.take(16, "TEE_TCB_SVN")
    mr_seam = tcb.take(48, "MRSEAM")
    mr_signer_seam = tcb.take(48, "MRSIGNERSEAM")
    seam_attributes = tcb.take(8, "ATTRIBUTES")
    tee_tcb_svn2 = tcb.take(16, "TEE_TCB_SVN2")
    info = Reader(info_bytes, "TDINFO", order="little", component=COMPONENT)
    td_attributes = info.take(8, "ATTRIBUTES")
    xfam = info.take(8, "XFAM")
    mr_td = info.take(48, "MRTD")
    mr_config_id = info.take(48, "MRCONFIGID")
    mr_owner = info.take(48, "MROWNER")
    mr_owner_config = info.take(48, "MROWNERCONFIG")
    rtmrs = (
        info.take(48, "RTMR0"),
        info.take(48, "RTMR1"),
        info.take(48, "RTMR2"),
        info.take(48, "RTMR3"),
    )
    mr_service_td = info.take(48, "SERVTD_HASH")
    return TdReport(
        report_type=report_type,
        cpu_svn=cpu_svn,
        tee_tcb_info_hash=tee_tcb_info_hash,
        tee_info_hash=tee_info_hash,
        report_data=report_data,
        tee_tcb_info=tcb.data,
        tdinfo=info_bytes,
        tee_tcb_svn=tee_tcb_svn,
        mr_seam=mr_seam,
        mr_signer_seam=mr_signer_seam,
        seam_attributes=seam_attributes,
        tee_tcb_svn2=tee_tcb_svn2,
        td_attributes=td_attributes,
        xfam=xfam,
        mr_td=mr_td,
        mr_config_id=mr_config_id,
        mr_owner=mr_owner,
        mr_owner_config=mr_owner_config,
        rtmrs=rtmrs,
        mr_service_td=mr_service_td,
    )
