"""Intel TDX DCAP quotes (versions 4 and 5): immutable model and strict parser.

Layout (Intel DCAP ``sgx_quote_4.h`` / ``sgx_quote_5.h``, all integers little-endian):

* v4: header (48) | TD report 1.0 (584) | u32 signature-data size | signature data
* v5: header (48) | u16 body type | u32 body size | body | u32 signature-data size | signature data
* signature data: ECDSA signature r||s (64) | attestation key x||y (64) | u16 certification-data
  type (6 = QE report certification data) | u32 size | QE report (384) | QE report signature (64)
  | u16 QE auth data size | QE auth data | u16 type (5 = PCK certificate chain, PEM) | u32 size
  | PEM bytes

Length fields drive parsing, never the size of the input: whatever follows the quote (zero
padding of an ioctl buffer, appended text) is kept in :attr:`Quote.trailing` and not parsed.
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar, Self

from ..binary import Reader
from ..bits import BitField, Flag
from ..errors import ParseError
from ..records import Record

COMPONENT = "tdx-quote"

HEADER_SIZE = 48
TD_REPORT10_SIZE = 584
TD_REPORT15_SIZE = 648
ENCLAVE_REPORT_SIZE = 384
ECDSA_SIGNATURE_SIZE = 64
ECDSA_KEY_SIZE = 64

SUPPORTED_VERSIONS = (4, 5)
ATTESTATION_KEY_ECDSA_P256 = 2
BODY_TYPE_SGX = 1
BODY_TYPE_TD10 = 2
BODY_TYPE_TD15 = 3
CERT_DATA_QE_REPORT = 6
CERT_DATA_PCK_CHAIN = 5

#: QE vendor id of Intel's quoting enclave (header ``qe_vendor_id``).
INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")

_BODY_SIZES = {BODY_TYPE_TD10: TD_REPORT10_SIZE, BODY_TYPE_TD15: TD_REPORT15_SIZE}
BODY_NAMES = {
    BODY_TYPE_SGX: "SGX enclave report",
    BODY_TYPE_TD10: "TD report 1.0",
    BODY_TYPE_TD15: "TD report 1.5",
}
CERT_DATA_TYPES = {
    1: "PPID in plain text with CPUSVN, PCESVN, PCEID",
    2: "PPID encrypted with RSA-2048-OAEP, with CPUSVN, PCESVN, PCEID",
    3: "PPID encrypted with RSA-3072-OAEP, with CPUSVN, PCESVN, PCEID",
    4: "PCK leaf certificate",
    5: "PCK certificate chain",
    6: "QE report certification data",
    7: "platform manifest",
}
ATTESTATION_KEY_TYPES = {2: "ECDSA-256 with P-256", 3: "ECDSA-384 with P-384"}


class TeeType(IntEnum):
    """``tee_type`` of the quote header."""

    SGX = 0x00000000
    TDX = 0x00000081


def _require_len(value: bytes, size: int, what: str) -> None:
    if len(value) != size:
        raise ParseError(f"{what} must be {size} bytes, got {len(value)}", component=COMPONENT)


class _Bits64(BitField, Record):
    """An 8-byte little-endian bit field of the TD report, held as its bytes."""

    raw: bytes

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        object.__setattr__(self, "raw", raw)
        self.__post_init__()

    _what: ClassVar[str]

    def __post_init__(self) -> None:
        _require_len(self.raw, 8, self._what)

    @property
    def value(self) -> int:
        return int.from_bytes(self.raw, "little")

    @classmethod
    def from_value(cls, value: int) -> Self:
        return cls(value.to_bytes(8, "little"))


class TdAttributes(_Bits64):
    """TDATTRIBUTES (8 bytes, little-endian bit field; Intel TDX module ABI, Linux
    ``asm/shared/tdx.h``): TUD = bits 7:0 (TD under debug), SEC = bits 31:8 (security-relevant),
    OTHER = bits 63:32."""

    _what = "TD attributes"
    debug = Flag(
        0,
        "off-TD debug: the host can read and write the TD's state and private memory",
        name="DEBUG",
    )
    hgs_plus_prof = Flag(4, name="HGS_PLUS_PROF")
    perf_prof = Flag(5, name="PERF_PROF")
    pmt_prof = Flag(6, name="PMT_PROF")
    icssd = Flag(16, name="ICSSD")
    lass = Flag(27, "linear address space separation is available to the TD", name="LASS")
    sept_ve_disable = Flag(
        28, "EPT violations on pending pages do not become #VE in the TD", name="SEPT_VE_DISABLE"
    )
    migratable = Flag(29, "the TD may be migrated (its keys leave the platform)", name="MIGRATABLE")
    pks = Flag(30, "the TD may use supervisor protection keys", name="PKS")
    kl = Flag(31, "the TD may use Key Locker", name="KL")
    tpa = Flag(62, name="TPA")
    perfmon = Flag(63, "the TD may use the performance monitoring counters", name="PERFMON")

    @property
    def tud(self) -> int:
        """TD-under-debug group, bits 7:0."""
        return self.raw[0]

    @property
    def sec(self) -> int:
        """Security-relevant group, bits 31:8 (shifted down)."""
        return int.from_bytes(self.raw[1:4], "little")

    @property
    def other(self) -> int:
        """Group not affecting security, bits 63:32 (shifted down)."""
        return int.from_bytes(self.raw[4:8], "little")


class Xfam(_Bits64):
    """XFAM: the extended (XSAVE) features the TD may use (8 bytes, little-endian); bit n is XSAVE
    state component n (XCR0 | IA32_XSS bit numbers, Intel SDM vol. 1 ch. 13)."""

    _what = "XFAM"
    x87 = Flag(0, "x87 FPU state")
    sse = Flag(1, "SSE state (XMM registers, MXCSR)", name="SSE")
    avx = Flag(2, "AVX state (upper halves of the YMM registers)", name="AVX")
    mpx_bndregs = Flag(3, "MPX bound registers", name="MPX_BNDREGS")
    mpx_bndcsr = Flag(4, "MPX bound configuration and status", name="MPX_BNDCSR")
    avx512_opmask = Flag(5, "AVX-512 opmask registers", name="AVX512_OPMASK")
    avx512_zmm_hi256 = Flag(6, "upper halves of ZMM0-15", name="AVX512_ZMM_HI256")
    avx512_hi16_zmm = Flag(7, "ZMM16-31", name="AVX512_HI16_ZMM")
    pt = Flag(8, "Processor Trace", name="PT")
    pkru = Flag(9, "the protection-key rights register", name="PKRU")
    pasid = Flag(10, "PASID state", name="PASID")
    cet_u = Flag(11, "CET user state", name="CET_U")
    cet_s = Flag(12, "CET supervisor state", name="CET_S")
    hdc = Flag(13, "Hardware Duty Cycling state", name="HDC")
    uli = Flag(14, "user interrupt state", name="ULI")
    lbr = Flag(15, "Last Branch Record state", name="LBR")
    hwp = Flag(16, "Hardware P-state state", name="HWP")
    amx_tilecfg = Flag(17, "AMX tile configuration", name="AMX_TILECFG")
    amx_tiledata = Flag(18, "AMX tile data", name="AMX_TILEDATA")
    apx = Flag(19, "APX extended general-purpose registers", name="APX")


class QuoteHeader(Record):
    """The 48-byte quote header."""

    version: int
    attestation_key_type: int
    tee_type: int
    reserved: bytes
    qe_vendor_id: bytes
    user_data: bytes
    raw: bytes

    __slots__ = (
        "attestation_key_type",
        "qe_vendor_id",
        "raw",
        "reserved",
        "tee_type",
        "user_data",
        "version",
    )

    def __init__(  # noqa: PLR0917
        self,
        version: int,
        attestation_key_type: int,
        tee_type: int,
        reserved: bytes,
        qe_vendor_id: bytes,
        user_data: bytes,
        raw: bytes,
    ) -> None:
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "attestation_key_type", attestation_key_type)
        object.__setattr__(self, "tee_type", tee_type)
        object.__setattr__(self, "reserved", reserved)
        object.__setattr__(self, "qe_vendor_id", qe_vendor_id)
        object.__setattr__(self, "user_data", user_data)
        object.__setattr__(self, "raw", raw)


class TdReport(Record):
    """TD report body: 1.0 (584 bytes) or 1.5 (648 bytes, adds TEE_TCB_SVN2 and MRSERVICETD)."""

    tee_tcb_svn: bytes
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: bytes
    td_attributes: TdAttributes
    xfam: Xfam
    mr_td: bytes
    mr_config_id: bytes
    mr_owner: bytes
    mr_owner_config: bytes
    rtmrs: tuple[bytes, bytes, bytes, bytes]
    report_data: bytes
    tee_tcb_svn2: bytes | None
    mr_service_td: bytes | None
    raw: bytes

    __slots__ = (
        "mr_config_id",
        "mr_owner",
        "mr_owner_config",
        "mr_seam",
        "mr_service_td",
        "mr_signer_seam",
        "mr_td",
        "raw",
        "report_data",
        "rtmrs",
        "seam_attributes",
        "td_attributes",
        "tee_tcb_svn",
        "tee_tcb_svn2",
        "xfam",
    )

    def __init__(  # noqa: PLR0917
        self,
        tee_tcb_svn: bytes,
        mr_seam: bytes,
        mr_signer_seam: bytes,
        seam_attributes: bytes,
        td_attributes: TdAttributes,
        xfam: Xfam,
        mr_td: bytes,
        mr_config_id: bytes,
        mr_owner: bytes,
        mr_owner_config: bytes,
        rtmrs: tuple[bytes, bytes, bytes, bytes],
        report_data: bytes,
        tee_tcb_svn2: bytes | None,
        mr_service_td: bytes | None,
        raw: bytes,
    ) -> None:
        object.__setattr__(self, "tee_tcb_svn", tee_tcb_svn)
        object.__setattr__(self, "mr_seam", mr_seam)
        object.__setattr__(self, "mr_signer_seam", mr_signer_seam)
        object.__setattr__(self, "seam_attributes", seam_attributes)
        object.__setattr__(self, "td_attributes", td_attributes)
        object.__setattr__(self, "xfam", xfam)
        object.__setattr__(self, "mr_td", mr_td)
        object.__setattr__(self, "mr_config_id", mr_config_id)
        object.__setattr__(self, "mr_owner", mr_owner)
        object.__setattr__(self, "mr_owner_config", mr_owner_config)
        object.__setattr__(self, "rtmrs", rtmrs)
        object.__setattr__(self, "report_data", report_data)
        object.__setattr__(self, "tee_tcb_svn2", tee_tcb_svn2)
        object.__setattr__(self, "mr_service_td", mr_service_td)
        object.__setattr__(self, "raw", raw)


class EnclaveReport(Record):
    """SGX report body (384 bytes); in a TDX quote, the report of the quoting enclave."""

    cpu_svn: bytes
    misc_select: int
    attributes: bytes
    mr_enclave: bytes
    mr_signer: bytes
    isv_prod_id: int
    isv_svn: int
    report_data: bytes
    raw: bytes

    __slots__ = (
        "attributes",
        "cpu_svn",
        "isv_prod_id",
        "isv_svn",
        "misc_select",
        "mr_enclave",
        "mr_signer",
        "raw",
        "report_data",
    )

    def __init__(  # noqa: PLR0917
        self,
        cpu_svn: bytes,
        misc_select: int,
        attributes: bytes,
        mr_enclave: bytes,
        mr_signer: bytes,
        isv_prod_id: int,
        isv_svn: int,
        report_data: bytes,
        raw: bytes,
    ) -> None:
        object.__setattr__(self, "cpu_svn", cpu_svn)
        object.__setattr__(self, "misc_select", misc_select)
        object.__setattr__(self, "attributes", attributes)
        object.__setattr__(self, "mr_enclave", mr_enclave)
        object.__setattr__(self, "mr_signer", mr_signer)
        object.__setattr__(self, "isv_prod_id", isv_prod_id)
        object.__setattr__(self, "isv_svn", isv_svn)
        object.__setattr__(self, "report_data", report_data)
        object.__setattr__(self, "raw", raw)

    @property
    def isv_ext_prod_id(self) -> bytes:
        return self.raw[32:48]

    @property
    def config_id(self) -> bytes:
        return self.raw[192:256]

    @property
    def config_svn(self) -> int:
        return int.from_bytes(self.raw[260:262], "little")

    @property
    def isv_family_id(self) -> bytes:
        return self.raw[304:320]


class QeCertificationData(Record):
    """Certification data type 6: QE report, its PCK signature, QE auth data and the PCK chain."""

    qe_report: EnclaveReport
    qe_report_signature: bytes
    qe_auth_data: bytes
    pck_cert_chain_type: int
    pck_cert_chain_pem: bytes

    __slots__ = (
        "pck_cert_chain_pem",
        "pck_cert_chain_type",
        "qe_auth_data",
        "qe_report",
        "qe_report_signature",
    )

    def __init__(
        self,
        qe_report: EnclaveReport,
        qe_report_signature: bytes,
        qe_auth_data: bytes,
        pck_cert_chain_type: int,
        pck_cert_chain_pem: bytes,
    ) -> None:
        object.__setattr__(self, "qe_report", qe_report)
        object.__setattr__(self, "qe_report_signature", qe_report_signature)
        object.__setattr__(self, "qe_auth_data", qe_auth_data)
        object.__setattr__(self, "pck_cert_chain_type", pck_cert_chain_type)
        object.__setattr__(self, "pck_cert_chain_pem", pck_cert_chain_pem)


class Quote(Record):
    """A parsed TDX quote. ``signed_bytes`` is exactly what the attestation key signed."""

    header: QuoteHeader
    body_type: int
    body: TdReport
    signed_bytes: bytes
    signature: bytes
    attestation_key: bytes
    certification: QeCertificationData
    raw: bytes
    trailing: bytes

    __slots__ = (
        "attestation_key",
        "body",
        "body_type",
        "certification",
        "header",
        "raw",
        "signature",
        "signed_bytes",
        "trailing",
    )

    def __init__(  # noqa: PLR0917
        self,
        header: QuoteHeader,
        body_type: int,
        body: TdReport,
        signed_bytes: bytes,
        signature: bytes,
        attestation_key: bytes,
        certification: QeCertificationData,
        raw: bytes,
        trailing: bytes,
    ) -> None:
        object.__setattr__(self, "header", header)
        object.__setattr__(self, "body_type", body_type)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "signed_bytes", signed_bytes)
        object.__setattr__(self, "signature", signature)
        object.__setattr__(self, "attestation_key", attestation_key)
        object.__setattr__(self, "certification", certification)
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "trailing", trailing)


def _error(message: str, field: str, offset: int, hint: str | None = None) -> ParseError:
    return ParseError(message, component=COMPONENT, field=field, offset=offset, hint=hint)


def _parse_header(r: Reader) -> QuoteHeader:
    start = r.offset
    version = r.u16("version")
    if version not in SUPPORTED_VERSIONS:
        raise _error(
            f"unsupported quote version {version} (Cairn reads DCAP quote versions 4 and 5)",
            "version",
            start,
            hint="TDX quotes are version 4 or 5; version 3 is an SGX-only format",
        )
    key_type = r.u16("attestation_key_type")
    if key_type != ATTESTATION_KEY_ECDSA_P256:
        name = ATTESTATION_KEY_TYPES.get(key_type, "unknown")
        raise _error(
            f"unsupported attestation key type {key_type} ({name});"
            " Cairn supports type 2 (ECDSA-256 with P-256)",
            "attestation_key_type",
            start + 2,
        )
    tee_type = r.u32("tee_type")
    if tee_type == TeeType.SGX:
        raise _error(
            "this is an SGX quote, not TDX (tee_type 0x00000000)",
            "tee_type",
            start + 4,
            hint="pass a TDX quote (tee_type 0x81)",
        )
    if tee_type != TeeType.TDX:
        raise _error(
            f"unknown tee_type 0x{tee_type:08x} (TDX is 0x00000081)", "tee_type", start + 4
        )
    reserved = r.take(4, "reserved")
    qe_vendor_id = r.take(16, "qe_vendor_id")
    user_data = r.take(20, "user_data")
    return QuoteHeader(
        version=version,
        attestation_key_type=key_type,
        tee_type=tee_type,
        reserved=reserved,
        qe_vendor_id=qe_vendor_id,
        user_data=user_data,
        raw=r.data[start : r.offset],
    )


def _parse_td_report(r: Reader, body_type: int) -> TdReport:
    start = r.offset
    tee_tcb_svn = r.take(16, "tee_tcb_svn")
    mr_seam = r.take(48, "mr_seam")
    mr_signer_seam = r.take(48, "mr_signer_seam")
    seam_attributes = r.take(8, "seam_attributes")
    td_attributes = TdAttributes(r.take(8, "td_attributes"))
    xfam = Xfam(r.take(8, "xfam"))
    mr_td = r.take(48, "mr_td")
    mr_config_id = r.take(48, "mr_config_id")
    mr_owner = r.take(48, "mr_owner")
    mr_owner_config = r.take(48, "mr_owner_config")
    rtmrs = (r.take(48, "rtmr0"), r.take(48, "rtmr1"), r.take(48, "rtmr2"), r.take(48, "rtmr3"))
    report_data = r.take(64, "report_data")
    tee_tcb_svn2: bytes | None = None
    mr_service_td: bytes | None = None
    if body_type == BODY_TYPE_TD15:
        tee_tcb_svn2 = r.take(16, "tee_tcb_svn2")
        mr_service_td = r.take(48, "mr_service_td")
    return TdReport(
        tee_tcb_svn=tee_tcb_svn,
        mr_seam=mr_seam,
        mr_signer_seam=mr_signer_seam,
        seam_attributes=seam_attributes,
        td_attributes=td_attributes,
        xfam=xfam,
        mr_td=mr_td,
        mr_config_id=mr_config_id,
        mr_owner=mr_owner,
        mr_owner_config=mr_owner_config,
        rtmrs=rtmrs,
        report_data=report_data,
        tee_tcb_svn2=tee_tcb_svn2,
        mr_service_td=mr_service_td,
        raw=r.data[start : r.offset],
    )


def _parse_body_descriptor(r: Reader) -> int:
    """v5 only: read and check the u16 body type and u32 body size; return the body type."""
    type_at = r.offset
    body_type = r.u16("body_type")
    size_at = r.offset
    size = r.u32("body_size")
    if body_type == BODY_TYPE_SGX:
        raise _error(
            "body type 1 (SGX enclave report) in a TDX quote; TDX quotes carry body type 2 or 3",
            "body_type",
            type_at,
        )
    expected = _BODY_SIZES.get(body_type)
    if expected is None:
        raise _error(
            f"unknown quote body type {body_type} (TDX: 2 = TD report 1.0, 3 = TD report 1.5)",
            "body_type",
            type_at,
        )
    if size != expected:
        raise _error(
            f"body size {size} != {expected} expected for body type {body_type}"
            f" ({BODY_NAMES[body_type]})",
            "body_size",
            size_at,
            hint="the body type and body size disagree: the quote is corrupt",
        )
    return body_type


def _parse_enclave_report(r: Reader) -> EnclaveReport:
    raw = r.take(ENCLAVE_REPORT_SIZE, "qe_report")
    return EnclaveReport(
        cpu_svn=raw[0:16],
        misc_select=int.from_bytes(raw[16:20], "little"),
        attributes=raw[48:64],
        mr_enclave=raw[64:96],
        mr_signer=raw[128:160],
        isv_prod_id=int.from_bytes(raw[256:258], "little"),
        isv_svn=int.from_bytes(raw[258:260], "little"),
        report_data=raw[320:384],
        raw=raw,
    )


def _cert_type_name(cert_type: int) -> str:
    return CERT_DATA_TYPES.get(cert_type, "unknown type")


def _parse_pem(r: Reader, field: str) -> bytes:
    start = r.offset
    pem = r.take(r.remaining, field).rstrip(b"\x00")
    if not pem.isascii() or b"\x00" in pem:
        raise _error("PCK certificate chain is not PEM text (non-ASCII or NUL bytes)", field, start)
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise _error("PCK certificate chain holds no PEM certificate", field, start)
    return pem


def _parse_qe_certification(r: Reader) -> QeCertificationData:
    qe_report = _parse_enclave_report(r)
    qe_report_signature = r.take(ECDSA_SIGNATURE_SIZE, "qe_report_signature")
    auth_size = r.u16("qe_auth_data_size")
    qe_auth_data = r.take(auth_size, "qe_auth_data")
    type_at = r.offset
    chain_type = r.u16("pck_cert_chain_type")
    if chain_type != CERT_DATA_PCK_CHAIN:
        raise _error(
            f"QE report certification data carries type {chain_type}"
            f" ({_cert_type_name(chain_type)}); Cairn needs type 5 (PCK certificate chain, PEM)",
            "pck_cert_chain_type",
            type_at,
            hint="configure the quote provider (QPL/PCCS) to embed the PCK certificate chain",
        )
    chain_size = r.u32("pck_cert_chain_size")
    chain = r.sub(chain_size, "pck_cert_chain", "PCK certificate chain")
    pem = _parse_pem(chain, "pck_cert_chain")
    r.finish()
    return QeCertificationData(
        qe_report=qe_report,
        qe_report_signature=qe_report_signature,
        qe_auth_data=qe_auth_data,
        pck_cert_chain_type=chain_type,
        pck_cert_chain_pem=pem,
    )


def parse_quote(data: bytes) -> Quote:
    """Parse a TDX DCAP quote v4/v5; anything after the quote ends up in ``trailing``.

    Raises :class:`ParseError` (naming the field and offset) for any violation.
    """
    data = bytes(data)
    r = Reader(
        data,
        "quote",
        order="little",
        component=COMPONENT,
        truncated_hint="the quote is incomplete or a length field is wrong; pass the whole quote",
    )
    header = _parse_header(r)
    body_type = BODY_TYPE_TD10 if header.version == 4 else _parse_body_descriptor(r)
    body = _parse_td_report(r, body_type)
    signed_bytes = data[: r.offset]

    sig_size = r.u32("signature_data_size")
    sig = r.sub(sig_size, "signature_data", "signature data")
    signature = sig.take(ECDSA_SIGNATURE_SIZE, "quote_signature")
    attestation_key = sig.take(ECDSA_KEY_SIZE, "attestation_key")
    type_at = sig.offset
    cert_type = sig.u16("certification_data_type")
    if cert_type != CERT_DATA_QE_REPORT:
        raise _error(
            f"certification data type {cert_type} ({_cert_type_name(cert_type)}) is not"
            " supported; Cairn needs type 6 (QE report certification data) holding type 5"
            " (PCK certificate chain)",
            "certification_data_type",
            type_at,
            hint="TDX quotes v4/v5 carry type 6; regenerate the quote with Intel's TD quoting"
            " enclave",
        )
    cert_size = sig.u32("certification_data_size")
    cert = sig.sub(cert_size, "certification_data", "QE report certification data")
    certification = _parse_qe_certification(cert)
    sig.finish()

    return Quote(
        header=header,
        body_type=body_type,
        body=body,
        signed_bytes=signed_bytes,
        signature=signature,
        attestation_key=attestation_key,
        certification=certification,
        raw=data[: r.offset],
        trailing=data[r.offset :],
    )
