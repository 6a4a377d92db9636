"""The AMD SEV-SNP ATTESTATION_REPORT: typed model, strict parser, JSON and text rendering.

Layout: AMD SEV-SNP Firmware ABI specification (56860), table "ATTESTATION_REPORT Structure",
0x4A0 bytes, report versions 2-5. All integers are little-endian.

Strictness rules:

* size, VERSION (2-5), SIGNATURE_ALGO (1) and POLICY bit 17 (reserved, must be one) are checked;
* every reserved *byte range* the spec marks must-be-zero for that version is checked, and so is
  the signature tail after R and S;
* reserved *bits* inside POLICY, PLATFORM_INFO and the signer-info word are not rejected: AMD has
  repeatedly given such bits a meaning in newer firmware (PLATFORM_INFO bit 6 is set by every
  Turin part). They are decoded where known and surfaced as ``reserved_bits`` for policies.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from ..errors import ParseError
from ..sections import Section, render_sections
from .product import ProductLine
from .tcb import TcbLayout, TcbVersion

COMPONENT = "snp-report"
REPORT_SIZE = 0x4A0
SIGNED_SIZE = 0x2A0
SUPPORTED_VERSIONS = (2, 3, 4, 5)
SIG_ALGO_ECDSA_P384_SHA384 = 1
ECDSA_COMPONENT_SIZE = 72  # R and S are each 72 bytes, little-endian, zero-extended

_SIGNATURE_OFFSET = 0x2A0
_SIGNATURE_TAIL = _SIGNATURE_OFFSET + 2 * ECDSA_COMPONENT_SIZE
_POLICY_RESERVED_ONE_BIT = 17


class SigningKey(IntEnum):
    """SIGNING_KEY (signer info bits 4:2): which key signed the report."""

    VCEK = 0
    VLEK = 1
    NONE = 7


# --------------------------------------------------------------------------------------------
# Bit fields
# --------------------------------------------------------------------------------------------


def _bit(value: int, n: int) -> bool:
    return bool((value >> n) & 1)


_POLICY_KNOWN_MASK = (1 << 26) - 1  # bits 0-25 are defined (17 is reserved-must-be-one)


@dataclass(frozen=True, slots=True)
class GuestPolicy:
    """POLICY (0x08): the guest policy the VM was launched with."""

    abi_minor: int
    abi_major: int
    smt: bool
    migrate_ma: bool
    debug: bool
    single_socket: bool
    cxl_allow: bool
    mem_aes_256_xts: bool
    rapl_dis: bool
    ciphertext_hiding: bool
    page_swap_disable: bool
    raw: int

    @classmethod
    def decode(cls, raw: int) -> GuestPolicy:
        return cls(
            abi_minor=raw & 0xFF,
            abi_major=(raw >> 8) & 0xFF,
            smt=_bit(raw, 16),
            migrate_ma=_bit(raw, 18),
            debug=_bit(raw, 19),
            single_socket=_bit(raw, 20),
            cxl_allow=_bit(raw, 21),
            mem_aes_256_xts=_bit(raw, 22),
            rapl_dis=_bit(raw, 23),
            ciphertext_hiding=_bit(raw, 24),
            page_swap_disable=_bit(raw, 25),
            raw=raw,
        )

    @property
    def reserved_bits(self) -> int:
        """Bits 26-63 (undefined in the spec Cairn reads); non-zero only on newer firmware."""
        return self.raw & ~_POLICY_KNOWN_MASK

    @property
    def abi_version(self) -> str:
        return f"{self.abi_major}.{self.abi_minor}"

    def flags(self) -> dict[str, bool]:
        return {
            "smt": self.smt,
            "migrate_ma": self.migrate_ma,
            "debug": self.debug,
            "single_socket": self.single_socket,
            "cxl_allow": self.cxl_allow,
            "mem_aes_256_xts": self.mem_aes_256_xts,
            "rapl_dis": self.rapl_dis,
            "ciphertext_hiding": self.ciphertext_hiding,
            "page_swap_disable": self.page_swap_disable,
        }


_PLATFORM_KNOWN_MASK = (1 << 8) - 1


@dataclass(frozen=True, slots=True)
class PlatformInfo:
    """PLATFORM_INFO (0x40): platform state when the report was generated.

    Bits 0-5 are defined in spec 56860. Bit 6 is listed as reserved in the spec revisions that
    go-sev-guest and virtee/sev follow, yet every Turin report sets it; tinfoil's verifiers
    (tinfoil-go, its go-sev-guest fork) decode it as IOMMU_WRITE_SAFE (the IOMMU write-buffer
    mitigation of AMD-SB-3016) and bit 7 as TIO_EN (SEV-TIO enabled). Cairn uses those names
    and never rejects either bit.
    """

    smt_en: bool
    tsme_en: bool
    ecc_en: bool
    rapl_dis: bool
    ciphertext_hiding_en: bool
    alias_check_complete: bool
    iommu_write_safe: bool
    tio_en: bool
    raw: int

    @classmethod
    def decode(cls, raw: int) -> PlatformInfo:
        return cls(
            smt_en=_bit(raw, 0),
            tsme_en=_bit(raw, 1),
            ecc_en=_bit(raw, 2),
            rapl_dis=_bit(raw, 3),
            ciphertext_hiding_en=_bit(raw, 4),
            alias_check_complete=_bit(raw, 5),
            iommu_write_safe=_bit(raw, 6),
            tio_en=_bit(raw, 7),
            raw=raw,
        )

    @property
    def reserved_bits(self) -> int:
        """Bits 8-63, undefined in every source Cairn knows of."""
        return self.raw & ~_PLATFORM_KNOWN_MASK

    def flags(self) -> dict[str, bool]:
        return {
            "smt_en": self.smt_en,
            "tsme_en": self.tsme_en,
            "ecc_en": self.ecc_en,
            "rapl_dis": self.rapl_dis,
            "ciphertext_hiding_en": self.ciphertext_hiding_en,
            "alias_check_complete": self.alias_check_complete,
            "iommu_write_safe": self.iommu_write_safe,
            "tio_en": self.tio_en,
        }


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """The signer-info word at 0x48: AUTHOR_KEY_EN, MASK_CHIP_ID and SIGNING_KEY."""

    author_key_en: bool
    mask_chip_id: bool
    signing_key: SigningKey
    raw: int

    @classmethod
    def decode(cls, raw: int) -> SignerInfo:
        key_bits = (raw >> 2) & 0x7
        try:
            key = SigningKey(key_bits)
        except ValueError:
            raise ParseError(
                f"SIGNING_KEY value {key_bits} is reserved (0 = VCEK, 1 = VLEK, 7 = none)",
                component=COMPONENT,
                field="SIGNING_KEY",
                offset=0x48,
            ) from None
        return cls(author_key_en=_bit(raw, 0), mask_chip_id=_bit(raw, 1), signing_key=key, raw=raw)

    @property
    def reserved_bits(self) -> int:
        """Bits 5-31, reserved by the spec."""
        return self.raw & ~0x1F


@dataclass(frozen=True, slots=True, order=True)
class FirmwareVersion:
    """An SNP firmware version (major.minor, build); orders like the firmware does."""

    major: int
    minor: int
    build: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor} build {self.build}"


# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReservedRange:
    """A must-be-zero byte range [start, end) of the report."""

    name: str
    start: int
    end: int


def reserved_ranges(version: int) -> tuple[ReservedRange, ...]:
    """The must-be-zero byte ranges of a report of ``version`` (2-5), in offset order."""
    ranges = [ReservedRange("reserved after signer info", 0x04C, 0x050)]
    if version >= 3:
        ranges.append(ReservedRange("reserved after CPUID", 0x18B, 0x1A0))
    else:
        ranges.append(ReservedRange("reserved after REPORTED_TCB", 0x188, 0x1A0))
    ranges.append(ReservedRange("reserved after CURRENT_MAJOR", 0x1EB, 0x1EC))
    ranges.append(ReservedRange("reserved after COMMITTED_MAJOR", 0x1EF, 0x1F0))
    if version >= 5:
        ranges.append(ReservedRange("reserved after CURRENT_MIT_VECTOR", 0x208, SIGNED_SIZE))
    else:
        ranges.append(ReservedRange("reserved after LAUNCH_TCB", 0x1F8, SIGNED_SIZE))
    ranges.append(ReservedRange("signature reserved tail", _SIGNATURE_TAIL, REPORT_SIZE))
    return tuple(ranges)


def _u32(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<I", data, offset)[0]
    return value


def _u64(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<Q", data, offset)[0]
    return value


def _check_size(data: object) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ParseError(
            f"an attestation report must be bytes, got {type(data).__name__}",
            component=COMPONENT,
        )
    data = bytes(data)
    if len(data) != REPORT_SIZE:
        raise ParseError(
            f"an SEV-SNP attestation report is {REPORT_SIZE} bytes (0x{REPORT_SIZE:X}), "
            f"got {len(data)}",
            component=COMPONENT,
            hint="pass the bare report; Azure HCL reports and encoded files go through "
            "extract_snp_report first",
        )
    return data


def _signature_int(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + ECDSA_COMPONENT_SIZE], "little")


# --------------------------------------------------------------------------------------------
# Pre-verification peek
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportPeek:
    """The few fields needed to find the signing certificate, read before anything is trusted.

    Only the size is checked; nothing here is validated or authenticated. ``reported_tcb`` is
    the raw 8 bytes (decode with ``TcbVersion.decode`` once the product line is known).
    """

    version: int
    chip_id: bytes
    reported_tcb: bytes
    signing_key_bits: int
    mask_chip_id: bool
    cpuid_fam_id: int
    cpuid_mod_id: int
    cpuid_step: int
    signature_r: int
    signature_s: int
    signed_bytes: bytes

    @property
    def signing_key(self) -> SigningKey | None:
        """The SIGNING_KEY value when it is one the spec defines."""
        try:
            return SigningKey(self.signing_key_bits)
        except ValueError:
            return None

    @property
    def product_from_cpuid(self) -> ProductLine | None:
        """The product line from the CPUID bytes (v3+ only; None for v2 or unknown CPUs)."""
        if self.version < 3:
            return None
        return ProductLine.from_cpuid(self.cpuid_fam_id, self.cpuid_mod_id)


def peek_signing_fields(data: bytes) -> ReportPeek:
    """Read the signing-related fields of a report; rejects only a wrong size."""
    data = _check_size(data)
    return ReportPeek(
        version=_u32(data, 0x00),
        chip_id=data[0x1A0:0x1E0],
        reported_tcb=data[0x180:0x188],
        signing_key_bits=(_u32(data, 0x48) >> 2) & 0x7,
        mask_chip_id=_bit(_u32(data, 0x48), 1),
        cpuid_fam_id=data[0x188],
        cpuid_mod_id=data[0x189],
        cpuid_step=data[0x18A],
        signature_r=_signature_int(data, _SIGNATURE_OFFSET),
        signature_s=_signature_int(data, _SIGNATURE_OFFSET + ECDSA_COMPONENT_SIZE),
        signed_bytes=data[:SIGNED_SIZE],
    )


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


class ProductSource(StrEnum):
    """Where the product line used to decode the TCBs came from."""

    UNKNOWN = "unknown"
    CPUID = "report CPUID"
    CALLER = "caller"


@dataclass(frozen=True, slots=True)
class AttestationReport:
    """An SEV-SNP ATTESTATION_REPORT (versions 2-5), immutable and fully decoded."""

    version: int
    guest_svn: int
    policy: GuestPolicy
    family_id: bytes
    image_id: bytes
    vmpl: int
    signature_algo: int
    current_tcb: TcbVersion
    platform_info: PlatformInfo
    signer_info: SignerInfo
    report_data: bytes
    measurement: bytes
    host_data: bytes
    id_key_digest: bytes
    author_key_digest: bytes
    report_id: bytes
    report_id_ma: bytes
    reported_tcb: TcbVersion
    cpuid_fam_id: int | None
    cpuid_mod_id: int | None
    cpuid_step: int | None
    chip_id: bytes
    committed_tcb: TcbVersion
    current_build: int
    current_minor: int
    current_major: int
    committed_build: int
    committed_minor: int
    committed_major: int
    launch_tcb: TcbVersion
    launch_mit_vector: int | None
    current_mit_vector: int | None
    signature_r: int
    signature_s: int
    product: ProductLine | None
    product_source: ProductSource
    raw: bytes

    # -- derived views ------------------------------------------------------------------------

    @property
    def signed_bytes(self) -> bytes:
        """The bytes the signature covers (0x000-0x29F)."""
        return self.raw[:SIGNED_SIZE]

    @property
    def signing_key(self) -> SigningKey:
        return self.signer_info.signing_key

    @property
    def mask_chip_id(self) -> bool:
        return self.signer_info.mask_chip_id

    @property
    def author_key_en(self) -> bool:
        return self.signer_info.author_key_en

    @property
    def family(self) -> int | None:
        """CPUID family (extended + base family, as CPUID_FAM_ID stores it); None for v2."""
        return self.cpuid_fam_id

    @property
    def model(self) -> int | None:
        """CPUID model (extended + base model, as CPUID_MOD_ID stores it); None for v2."""
        return self.cpuid_mod_id

    @property
    def product_from_cpuid(self) -> ProductLine | None:
        if self.cpuid_fam_id is None or self.cpuid_mod_id is None:
            return None
        return ProductLine.from_cpuid(self.cpuid_fam_id, self.cpuid_mod_id)

    @property
    def tcb_layout(self) -> TcbLayout:
        return TcbLayout.for_product(self.product)

    @property
    def tcb_layout_assumed(self) -> bool:
        """True when no product was known and the Milan/Genoa TCB layout was assumed."""
        return self.product is None

    @property
    def chip_id_hex(self) -> str:
        return self.chip_id.hex()

    @property
    def chip_id_is_zero(self) -> bool:
        """All-zero CHIP_ID: masked (MASK_CHIP_ID) or VLEK-signed."""
        return not any(self.chip_id)

    @property
    def measurement_hex(self) -> str:
        return self.measurement.hex()

    @property
    def report_data_hex(self) -> str:
        return self.report_data.hex()

    @property
    def host_data_hex(self) -> str:
        return self.host_data.hex()

    @property
    def current_firmware(self) -> FirmwareVersion:
        return FirmwareVersion(self.current_major, self.current_minor, self.current_build)

    @property
    def committed_firmware(self) -> FirmwareVersion:
        return FirmwareVersion(self.committed_major, self.committed_minor, self.committed_build)

    @property
    def signature_der_components(self) -> tuple[int, int]:
        """(r, s) for building an ECDSA signature to verify ``signed_bytes`` with SHA-384."""
        return self.signature_r, self.signature_s

    def tcbs(self) -> dict[str, TcbVersion]:
        return {
            "current_tcb": self.current_tcb,
            "reported_tcb": self.reported_tcb,
            "committed_tcb": self.committed_tcb,
            "launch_tcb": self.launch_tcb,
        }

    def with_product(self, product: ProductLine) -> AttestationReport:
        """The same report with its TCBs re-decoded for ``product`` (e.g. learned from the VCEK)."""
        return dataclasses.replace(
            self,
            current_tcb=self.current_tcb.with_product(product),
            reported_tcb=self.reported_tcb.with_product(product),
            committed_tcb=self.committed_tcb.with_product(product),
            launch_tcb=self.launch_tcb.with_product(product),
            product=product,
            product_source=ProductSource.CALLER,
        )


def _fail(message: str, field: str, offset: int, hint: str | None = None) -> ParseError:
    return ParseError(message, component=COMPONENT, field=field, offset=offset, hint=hint)


def _validate_header(data: bytes) -> int:
    version = _u32(data, 0x00)
    if version not in SUPPORTED_VERSIONS:
        raise _fail(
            f"unsupported report version {version}; Cairn reads 2-5",
            "VERSION",
            0x00,
            hint="is this really an SEV-SNP attestation report (not a quote or a wrapped blob)?",
        )
    algo = _u32(data, 0x34)
    if algo != SIG_ALGO_ECDSA_P384_SHA384:
        raise _fail(
            f"SIGNATURE_ALGO is {algo}; the only defined value is 1 (ECDSA P-384 with SHA-384)",
            "SIGNATURE_ALGO",
            0x34,
        )
    policy = _u64(data, 0x08)
    if not _bit(policy, _POLICY_RESERVED_ONE_BIT):
        raise _fail(
            f"POLICY bit 17 is reserved and must be 1 (policy 0x{policy:X})",
            "POLICY",
            0x08,
        )
    for rng in reserved_ranges(version):
        chunk = data[rng.start : rng.end]
        if any(chunk):
            first = next(i for i, b in enumerate(chunk) if b)
            raise _fail(
                f"{rng.name} (0x{rng.start:03X}-0x{rng.end - 1:03X}) must be zero in a "
                f"version {version} report; byte 0x{rng.start + first:03X} is "
                f"0x{chunk[first]:02X}",
                rng.name,
                rng.start + first,
                hint="reserved bytes are zero in every genuine report: the data is corrupt, "
                "misaligned or not an SEV-SNP report",
            )
    return version


def parse_report(data: bytes, *, product: ProductLine | None = None) -> AttestationReport:
    """Parse and strictly validate a 1184-byte SEV-SNP attestation report.

    TCBs are decoded for ``product`` when given, else for the product the v3+ CPUID fields name,
    else with the Milan/Genoa layout (recorded as ``product=None``; see ``with_product``).
    """
    data = _check_size(data)
    version = _validate_header(data)
    signer = SignerInfo.decode(_u32(data, 0x48))

    has_cpuid = version >= 3
    fam, mod, step = (data[0x188], data[0x189], data[0x18A]) if has_cpuid else (None, None, None)
    if product is not None:
        source = ProductSource.CALLER
    elif fam is not None and mod is not None:
        product = ProductLine.from_cpuid(fam, mod)
        source = ProductSource.CPUID if product is not None else ProductSource.UNKNOWN
    else:
        source = ProductSource.UNKNOWN

    def tcb(offset: int) -> TcbVersion:
        return TcbVersion.decode(data[offset : offset + 8], product)

    has_mit = version >= 5
    return AttestationReport(
        version=version,
        guest_svn=_u32(data, 0x04),
        policy=GuestPolicy.decode(_u64(data, 0x08)),
        family_id=data[0x10:0x20],
        image_id=data[0x20:0x30],
        vmpl=_u32(data, 0x30),
        signature_algo=_u32(data, 0x34),
        current_tcb=tcb(0x38),
        platform_info=PlatformInfo.decode(_u64(data, 0x40)),
        signer_info=signer,
        report_data=data[0x50:0x90],
        measurement=data[0x90:0xC0],
        host_data=data[0xC0:0xE0],
        id_key_digest=data[0xE0:0x110],
        author_key_digest=data[0x110:0x140],
        report_id=data[0x140:0x160],
        report_id_ma=data[0x160:0x180],
        reported_tcb=tcb(0x180),
        cpuid_fam_id=fam,
        cpuid_mod_id=mod,
        cpuid_step=step,
        chip_id=data[0x1A0:0x1E0],
        committed_tcb=tcb(0x1E0),
        current_build=data[0x1E8],
        current_minor=data[0x1E9],
        current_major=data[0x1EA],
        committed_build=data[0x1EC],
        committed_minor=data[0x1ED],
        committed_major=data[0x1EE],
        launch_tcb=tcb(0x1F0),
        launch_mit_vector=_u64(data, 0x1F8) if has_mit else None,
        current_mit_vector=_u64(data, 0x200) if has_mit else None,
        signature_r=_signature_int(data, _SIGNATURE_OFFSET),
        signature_s=_signature_int(data, _SIGNATURE_OFFSET + ECDSA_COMPONENT_SIZE),
        product=product,
        product_source=source,
        raw=data,
    )


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def _hex64(value: int) -> str:
    """A 64-bit field's value as 16 lowercase hex digits (no ``0x``, like every hex value)."""
    return f"{value:016x}"


def _hex32(value: int) -> str:
    return f"{value:08x}"


def _tcb_json(tcb: TcbVersion) -> dict[str, Any]:
    return {
        "raw": tcb.raw.hex(),
        "layout": tcb.layout.value,
        "layout_assumed": tcb.layout_assumed,
        **tcb.components(),
    }


def _firmware_json(fw: FirmwareVersion) -> dict[str, Any]:
    return {"major": fw.major, "minor": fw.minor, "build": fw.build, "text": str(fw)}


def report_to_json(report: AttestationReport) -> dict[str, Any]:
    """Every field of the report as JSON-ready data (hex for bytes and 64-bit bit fields)."""
    cpuid: dict[str, Any] | None = None
    if report.cpuid_fam_id is not None:
        cpuid = {
            "family": report.cpuid_fam_id,
            "model": report.cpuid_mod_id,
            "stepping": report.cpuid_step,
            "product": p.value if (p := report.product_from_cpuid) else None,
        }
    return {
        "version": report.version,
        "guest_svn": report.guest_svn,
        "policy": {
            "raw": _hex64(report.policy.raw),
            "abi_major": report.policy.abi_major,
            "abi_minor": report.policy.abi_minor,
            **report.policy.flags(),
            "reserved_bits": _hex64(report.policy.reserved_bits),
        },
        "family_id": report.family_id.hex(),
        "image_id": report.image_id.hex(),
        "vmpl": report.vmpl,
        "signature_algo": report.signature_algo,
        "current_tcb": _tcb_json(report.current_tcb),
        "platform_info": {
            "raw": _hex64(report.platform_info.raw),
            **report.platform_info.flags(),
            "reserved_bits": _hex64(report.platform_info.reserved_bits),
        },
        "signer_info": {
            "raw": _hex32(report.signer_info.raw),
            "author_key_en": report.author_key_en,
            "mask_chip_id": report.mask_chip_id,
            "signing_key": report.signing_key.name,
            "reserved_bits": _hex32(report.signer_info.reserved_bits),
        },
        "report_data": report.report_data.hex(),
        "measurement": report.measurement.hex(),
        "host_data": report.host_data.hex(),
        "id_key_digest": report.id_key_digest.hex(),
        "author_key_digest": report.author_key_digest.hex(),
        "report_id": report.report_id.hex(),
        "report_id_ma": report.report_id_ma.hex(),
        "reported_tcb": _tcb_json(report.reported_tcb),
        "cpuid": cpuid,
        "chip_id": report.chip_id.hex(),
        "committed_tcb": _tcb_json(report.committed_tcb),
        "current_firmware": _firmware_json(report.current_firmware),
        "committed_firmware": _firmware_json(report.committed_firmware),
        "launch_tcb": _tcb_json(report.launch_tcb),
        "launch_mit_vector": (
            None if report.launch_mit_vector is None else _hex64(report.launch_mit_vector)
        ),
        "current_mit_vector": (
            None if report.current_mit_vector is None else _hex64(report.current_mit_vector)
        ),
        "signature": {"r": f"{report.signature_r:096x}", "s": f"{report.signature_s:096x}"},
        "product": {
            "name": report.product.value if report.product else None,
            "source": report.product_source.value,
            "tcb_layout": report.tcb_layout.value,
            "tcb_layout_assumed": report.tcb_layout_assumed,
        },
    }


# --------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _tcb_text(tcb: TcbVersion) -> str:
    note = " (layout assumed: product unknown)" if tcb.layout_assumed else ""
    return f"{tcb}  [{tcb.raw.hex()}, {tcb.layout.value}{note}]"


def _opt(value: int | None, fmt: Callable[[int], str]) -> str:
    return "n/a (report version < 5)" if value is None else fmt(value)


def report_sections(report: AttestationReport) -> list[Section]:
    """Every field of the report, grouped into titled sections of (label, value) rows."""
    pol, plat, sig = report.policy, report.platform_info, report.signer_info
    product = report.product.value if report.product else "unknown"
    if report.cpuid_fam_id is None:
        cpuid = "n/a (report version 2)"
    else:
        cpuid = (
            f"family {report.cpuid_fam_id:02x} model {report.cpuid_mod_id:02x} "
            f"stepping {report.cpuid_step:02x} (hex)"
        )
    return [
        (
            "Header",
            [
                ("version", str(report.version)),
                ("product", f"{product} (from {report.product_source.value})"),
                ("cpuid", cpuid),
                ("guest svn", str(report.guest_svn)),
                ("vmpl", str(report.vmpl)),
                ("signature algo", f"{report.signature_algo} (ECDSA P-384 with SHA-384)"),
            ],
        ),
        (
            "Guest policy",
            [
                ("raw", _hex64(pol.raw)),
                ("abi (minimum)", pol.abi_version),
                *((name.replace("_", " "), _yes(v)) for name, v in pol.flags().items()),
                ("reserved bits", _hex64(pol.reserved_bits)),
            ],
        ),
        (
            "Platform info",
            [
                ("raw", _hex64(plat.raw)),
                *((name.replace("_", " "), _yes(v)) for name, v in plat.flags().items()),
                ("reserved bits", _hex64(plat.reserved_bits)),
            ],
        ),
        (
            "Signer",
            [
                ("signing key", sig.signing_key.name),
                ("mask chip id", _yes(sig.mask_chip_id)),
                ("author key en", _yes(sig.author_key_en)),
                ("reserved bits", _hex32(sig.reserved_bits)),
            ],
        ),
        (
            "Measurements",
            [
                ("measurement", report.measurement.hex()),
                ("report data", report.report_data.hex()),
                ("host data", report.host_data.hex()),
                ("family id", report.family_id.hex()),
                ("image id", report.image_id.hex()),
                ("id key digest", report.id_key_digest.hex()),
                ("author key digest", report.author_key_digest.hex()),
            ],
        ),
        (
            "TCB",
            [
                ("current tcb", _tcb_text(report.current_tcb)),
                ("reported tcb", _tcb_text(report.reported_tcb)),
                ("committed tcb", _tcb_text(report.committed_tcb)),
                ("launch tcb", _tcb_text(report.launch_tcb)),
                ("current firmware", str(report.current_firmware)),
                ("committed firmware", str(report.committed_firmware)),
                ("launch mit vector", _opt(report.launch_mit_vector, _hex64)),
                ("current mit vector", _opt(report.current_mit_vector, _hex64)),
            ],
        ),
        (
            "Identifiers",
            [
                ("chip id", report.chip_id.hex()),
                ("report id", report.report_id.hex()),
                ("report id ma", report.report_id_ma.hex()),
            ],
        ),
        (
            "Signature",
            [
                ("r", f"{report.signature_r:096x}"),
                ("s", f"{report.signature_s:096x}"),
            ],
        ),
    ]


def render_report(report: AttestationReport) -> str:
    """A human-readable listing of every field, grouped, one field per line, labels aligned."""
    return render_sections(report_sections(report))
