"""The AMD SEV-SNP ATTESTATION_REPORT: typed model, one field table, strict parser and builder
(rendering for people and JSON: :mod:`cairn_verifier.cli.snp_render`).

Layout: AMD SEV-SNP Firmware ABI specification (56860), table "ATTESTATION_REPORT Structure",
0x4A0 bytes, report versions 2-5. All integers are little-endian. :data:`REPORT_FIELDS` lists
every byte of the report once, per version (reserved ranges included), and both
:func:`parse_report` and :func:`build_report` go through it, as do the pre-verification peek
and the must-be-zero checks.

Strictness rules:

* size, VERSION (2-5), SIGNATURE_ALGO (1) and POLICY bit 17 (reserved, must be one) are checked;
* every reserved *byte range* the spec marks must-be-zero for that version is checked, and so is
  the signature tail after R and S;
* reserved *bits* inside POLICY, PLATFORM_INFO and the signer-info word are not rejected: AMD has
  repeatedly given such bits a meaning in newer firmware (PLATFORM_INFO bit 6 is set by every
  Turin part). They are decoded where known (:mod:`.flags`) and surfaced as ``reserved_bits``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any

from ..bits import BitField
from ..errors import ParseError
from ..records import Record
from .flags import GuestPolicy, PlatformInfo, SignerInfo, SigningKey
from .product import ProductLine
from .tcb import TCB_SIZE, TcbLayout, TcbVersion

__all__ = [
    "COMPONENT",
    "ECDSA_COMPONENT_SIZE",
    "REPORT_FIELDS",
    "REPORT_SIZE",
    "SIGNED_SIZE",
    "SIG_ALGO_ECDSA_P384_SHA384",
    "SUPPORTED_VERSIONS",
    "AttestationReport",
    "FirmwareVersion",
    "GuestPolicy",
    "PlatformInfo",
    "ProductSource",
    "ReportField",
    "ReportPeek",
    "ReservedRange",
    "SignerInfo",
    "SigningKey",
    "build_report",
    "fields_of",
    "parse_report",
    "peek_signing_fields",
    "reserved_ranges",
]

COMPONENT = "snp-report"
REPORT_SIZE = 0x4A0
SIGNED_SIZE = 0x2A0
SUPPORTED_VERSIONS = (2, 3, 4, 5)
SIG_ALGO_ECDSA_P384_SHA384 = 1
ECDSA_COMPONENT_SIZE = 72  # R and S are each 72 bytes, little-endian, zero-extended


@dataclass(frozen=True, slots=True, order=True)
class FirmwareVersion:
    """An SNP firmware version (major.minor, build); orders like the firmware does."""

    major: int
    minor: int
    build: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor} build {self.build}"


# --------------------------------------------------------------------------------------------
# The field table
# --------------------------------------------------------------------------------------------


class Codec(Enum):
    """How a field's bytes become its value in :class:`AttestationReport` (and back)."""

    UINT = "little-endian unsigned integer"
    BYTES = "bytes, verbatim"
    TCB = "TCB_VERSION, decoded for the product line"
    POLICY = "GuestPolicy bit field"
    PLATFORM_INFO = "PlatformInfo bit field"
    SIGNER_INFO = "SignerInfo bit field"
    RESERVED = "reserved: must be zero"


_ALL = range(2, 6)
_V3_ON = range(3, 6)
_V5_ON = range(5, 6)
_BIT_FIELDS: dict[Codec, type[GuestPolicy] | type[PlatformInfo] | type[SignerInfo]] = {
    Codec.POLICY: GuestPolicy,
    Codec.PLATFORM_INFO: PlatformInfo,
    Codec.SIGNER_INFO: SignerInfo,
}


class ReportField(Record):
    """One row of the layout: ``size`` bytes at ``offset`` in reports of ``versions``."""

    name: str
    """The spec's name (used in error messages); for reserved rows, which range it is."""
    attr: str | None
    """The :class:`AttestationReport` attribute holding the value; None for reserved bytes."""
    offset: int
    size: int
    codec: Codec
    versions: range

    __slots__ = ("attr", "codec", "name", "offset", "size", "versions")

    def __init__(  # noqa: PLR0917
        self,
        name: str,
        attr: str | None,
        offset: int,
        size: int,
        codec: Codec,
        versions: range = _ALL,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "attr", attr)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "codec", codec)
        object.__setattr__(self, "versions", versions)

    @property
    def end(self) -> int:
        return self.offset + self.size

    def raw(self, data: bytes) -> bytes:
        return data[self.offset : self.end]

    def uint(self, data: bytes) -> int:
        return int.from_bytes(self.raw(data), "little")

    def decode(self, data: bytes, product: ProductLine | None) -> object:
        """The field's value in ``data`` (a checked report), typed as the model holds it."""
        raw = self.raw(data)
        if self.codec is Codec.BYTES:
            return raw
        if self.codec is Codec.TCB:
            return TcbVersion.decode(raw, product)
        value = int.from_bytes(raw, "little")
        bit_field = _BIT_FIELDS.get(self.codec)
        return value if bit_field is None else bit_field(value)

    def encode(self, value: object) -> bytes:
        """The field's bytes for ``value`` (as :meth:`decode` returns it, or the raw int/bytes)."""
        if isinstance(value, BitField):
            value = value.value
        elif isinstance(value, TcbVersion):
            value = value.raw
        if isinstance(value, bool) or not isinstance(value, (int, bytes)):
            raise TypeError(f"{self.name}: cannot encode {type(value).__name__}")
        if isinstance(value, int):
            return value.to_bytes(self.size, "little")  # OverflowError when it does not fit
        if len(value) != self.size:
            raise ValueError(f"{self.name} is {self.size} bytes, got {len(value)}")
        return value


def _reserved(name: str, start: int, end: int, versions: range = _ALL) -> ReportField:
    return ReportField(name, None, start, end - start, Codec.RESERVED, versions)


_U, _B, _T = Codec.UINT, Codec.BYTES, Codec.TCB

REPORT_FIELDS: tuple[ReportField, ...] = (
    ReportField("VERSION", "version", 0x000, 4, _U),
    ReportField("GUEST_SVN", "guest_svn", 0x004, 4, _U),
    ReportField("POLICY", "policy", 0x008, 8, Codec.POLICY),
    ReportField("FAMILY_ID", "family_id", 0x010, 16, _B),
    ReportField("IMAGE_ID", "image_id", 0x020, 16, _B),
    ReportField("VMPL", "vmpl", 0x030, 4, _U),
    ReportField("SIGNATURE_ALGO", "signature_algo", 0x034, 4, _U),
    ReportField("CURRENT_TCB", "current_tcb", 0x038, TCB_SIZE, _T),
    ReportField("PLATFORM_INFO", "platform_info", 0x040, 8, Codec.PLATFORM_INFO),
    ReportField("signer info", "signer_info", 0x048, 4, Codec.SIGNER_INFO),
    _reserved("reserved after signer info", 0x04C, 0x050),
    ReportField("REPORT_DATA", "report_data", 0x050, 64, _B),
    ReportField("MEASUREMENT", "measurement", 0x090, 48, _B),
    ReportField("HOST_DATA", "host_data", 0x0C0, 32, _B),
    ReportField("ID_KEY_DIGEST", "id_key_digest", 0x0E0, 48, _B),
    ReportField("AUTHOR_KEY_DIGEST", "author_key_digest", 0x110, 48, _B),
    ReportField("REPORT_ID", "report_id", 0x140, 32, _B),
    ReportField("REPORT_ID_MA", "report_id_ma", 0x160, 32, _B),
    ReportField("REPORTED_TCB", "reported_tcb", 0x180, TCB_SIZE, _T),
    _reserved("reserved after REPORTED_TCB", 0x188, 0x1A0, range(2, 3)),
    ReportField("CPUID_FAM_ID", "cpuid_fam_id", 0x188, 1, _U, _V3_ON),
    ReportField("CPUID_MOD_ID", "cpuid_mod_id", 0x189, 1, _U, _V3_ON),
    ReportField("CPUID_STEP", "cpuid_step", 0x18A, 1, _U, _V3_ON),
    _reserved("reserved after CPUID", 0x18B, 0x1A0, _V3_ON),
    ReportField("CHIP_ID", "chip_id", 0x1A0, 64, _B),
    ReportField("COMMITTED_TCB", "committed_tcb", 0x1E0, TCB_SIZE, _T),
    ReportField("CURRENT_BUILD", "current_build", 0x1E8, 1, _U),
    ReportField("CURRENT_MINOR", "current_minor", 0x1E9, 1, _U),
    ReportField("CURRENT_MAJOR", "current_major", 0x1EA, 1, _U),
    _reserved("reserved after CURRENT_MAJOR", 0x1EB, 0x1EC),
    ReportField("COMMITTED_BUILD", "committed_build", 0x1EC, 1, _U),
    ReportField("COMMITTED_MINOR", "committed_minor", 0x1ED, 1, _U),
    ReportField("COMMITTED_MAJOR", "committed_major", 0x1EE, 1, _U),
    _reserved("reserved after COMMITTED_MAJOR", 0x1EF, 0x1F0),
    ReportField("LAUNCH_TCB", "launch_tcb", 0x1F0, TCB_SIZE, _T),
    _reserved("reserved after LAUNCH_TCB", 0x1F8, SIGNED_SIZE, range(2, 5)),
    ReportField("LAUNCH_MIT_VECTOR", "launch_mit_vector", 0x1F8, 8, _U, _V5_ON),
    ReportField("CURRENT_MIT_VECTOR", "current_mit_vector", 0x200, 8, _U, _V5_ON),
    _reserved("reserved after CURRENT_MIT_VECTOR", 0x208, SIGNED_SIZE, _V5_ON),
    ReportField("SIGNATURE.R", "signature_r", SIGNED_SIZE, ECDSA_COMPONENT_SIZE, _U),
    ReportField("SIGNATURE.S", "signature_s", 0x2E8, ECDSA_COMPONENT_SIZE, _U),
    _reserved("signature reserved tail", 0x330, REPORT_SIZE),
)
"""Every byte of the report once per version, in offset order (a v2 report has no CPUID bytes,
only v5 has the mitigation vectors)."""

_FIELD = {f.attr: f for f in REPORT_FIELDS if f.attr is not None}


def fields_of(version: int) -> tuple[ReportField, ...]:
    """The rows of a report of ``version`` (2-5), in offset order; they tile the 0x4A0 bytes."""
    rows = _FIELDS_OF.get(version)
    return rows if rows is not None else _rows_of(version)


def _rows_of(version: int) -> tuple[ReportField, ...]:
    return tuple(f for f in REPORT_FIELDS if version in f.versions)


_FIELDS_OF = {version: _rows_of(version) for version in SUPPORTED_VERSIONS}
"""The rows of each supported version, selected once (every parse reads them twice)."""


class ReservedRange(Record):
    """A must-be-zero byte range [start, end) of the report."""

    name: str
    start: int
    end: int

    __slots__ = ("end", "name", "start")

    def __init__(self, name: str, start: int, end: int) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)


def reserved_ranges(version: int) -> tuple[ReservedRange, ...]:
    """The must-be-zero byte ranges of a report of ``version`` (2-5), in offset order."""
    ranges = _RESERVED.get(version)
    return ranges if ranges is not None else _reserved_of(version)


def _reserved_of(version: int) -> tuple[ReservedRange, ...]:
    return tuple(
        ReservedRange(f.name, f.offset, f.end) for f in fields_of(version) if f.attr is None
    )


_RESERVED = {version: _reserved_of(version) for version in SUPPORTED_VERSIONS}
_ZEROED = {
    version: tuple((rng, bytes(rng.end - rng.start)) for rng in ranges)
    for version, ranges in _RESERVED.items()
}
"""Each version's reserved ranges with the zero bytes each must equal."""


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


# --------------------------------------------------------------------------------------------
# Pre-verification peek
# --------------------------------------------------------------------------------------------


class ReportPeek(Record):
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

    __slots__ = (
        "chip_id",
        "cpuid_fam_id",
        "cpuid_mod_id",
        "cpuid_step",
        "mask_chip_id",
        "reported_tcb",
        "signature_r",
        "signature_s",
        "signed_bytes",
        "signing_key_bits",
        "version",
    )

    def __init__(  # noqa: PLR0917
        self,
        version: int,
        chip_id: bytes,
        reported_tcb: bytes,
        signing_key_bits: int,
        mask_chip_id: bool,
        cpuid_fam_id: int,
        cpuid_mod_id: int,
        cpuid_step: int,
        signature_r: int,
        signature_s: int,
        signed_bytes: bytes,
    ) -> None:
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "chip_id", chip_id)
        object.__setattr__(self, "reported_tcb", reported_tcb)
        object.__setattr__(self, "signing_key_bits", signing_key_bits)
        object.__setattr__(self, "mask_chip_id", mask_chip_id)
        object.__setattr__(self, "cpuid_fam_id", cpuid_fam_id)
        object.__setattr__(self, "cpuid_mod_id", cpuid_mod_id)
        object.__setattr__(self, "cpuid_step", cpuid_step)
        object.__setattr__(self, "signature_r", signature_r)
        object.__setattr__(self, "signature_s", signature_s)
        object.__setattr__(self, "signed_bytes", signed_bytes)

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
    signer = SignerInfo(_FIELD["signer_info"].uint(data))
    return ReportPeek(
        version=_FIELD["version"].uint(data),
        chip_id=_FIELD["chip_id"].raw(data),
        reported_tcb=_FIELD["reported_tcb"].raw(data),
        signing_key_bits=signer.signing_key_bits,
        mask_chip_id=signer.mask_chip_id,
        cpuid_fam_id=_FIELD["cpuid_fam_id"].uint(data),
        cpuid_mod_id=_FIELD["cpuid_mod_id"].uint(data),
        cpuid_step=_FIELD["cpuid_step"].uint(data),
        signature_r=_FIELD["signature_r"].uint(data),
        signature_s=_FIELD["signature_s"].uint(data),
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


class AttestationReport(Record):
    """An SEV-SNP ATTESTATION_REPORT (versions 2-5), immutable and fully decoded.

    The attributes up to ``signature_s`` are the fields of :data:`REPORT_FIELDS` (None where the
    report's version lacks the field); ``product``, ``product_source`` and ``raw`` are not.
    """

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

    __slots__ = (
        "author_key_digest",
        "chip_id",
        "committed_build",
        "committed_major",
        "committed_minor",
        "committed_tcb",
        "cpuid_fam_id",
        "cpuid_mod_id",
        "cpuid_step",
        "current_build",
        "current_major",
        "current_minor",
        "current_mit_vector",
        "current_tcb",
        "family_id",
        "guest_svn",
        "host_data",
        "id_key_digest",
        "image_id",
        "launch_mit_vector",
        "launch_tcb",
        "measurement",
        "platform_info",
        "policy",
        "product",
        "product_source",
        "raw",
        "report_data",
        "report_id",
        "report_id_ma",
        "reported_tcb",
        "signature_algo",
        "signature_r",
        "signature_s",
        "signer_info",
        "version",
        "vmpl",
    )

    def __init__(  # noqa: PLR0917
        self,
        version: int,
        guest_svn: int,
        policy: GuestPolicy,
        family_id: bytes,
        image_id: bytes,
        vmpl: int,
        signature_algo: int,
        current_tcb: TcbVersion,
        platform_info: PlatformInfo,
        signer_info: SignerInfo,
        report_data: bytes,
        measurement: bytes,
        host_data: bytes,
        id_key_digest: bytes,
        author_key_digest: bytes,
        report_id: bytes,
        report_id_ma: bytes,
        reported_tcb: TcbVersion,
        cpuid_fam_id: int | None,
        cpuid_mod_id: int | None,
        cpuid_step: int | None,
        chip_id: bytes,
        committed_tcb: TcbVersion,
        current_build: int,
        current_minor: int,
        current_major: int,
        committed_build: int,
        committed_minor: int,
        committed_major: int,
        launch_tcb: TcbVersion,
        launch_mit_vector: int | None,
        current_mit_vector: int | None,
        signature_r: int,
        signature_s: int,
        product: ProductLine | None,
        product_source: ProductSource,
        raw: bytes,
    ) -> None:
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "guest_svn", guest_svn)
        object.__setattr__(self, "policy", policy)
        object.__setattr__(self, "family_id", family_id)
        object.__setattr__(self, "image_id", image_id)
        object.__setattr__(self, "vmpl", vmpl)
        object.__setattr__(self, "signature_algo", signature_algo)
        object.__setattr__(self, "current_tcb", current_tcb)
        object.__setattr__(self, "platform_info", platform_info)
        object.__setattr__(self, "signer_info", signer_info)
        object.__setattr__(self, "report_data", report_data)
        object.__setattr__(self, "measurement", measurement)
        object.__setattr__(self, "host_data", host_data)
        object.__setattr__(self, "id_key_digest", id_key_digest)
        object.__setattr__(self, "author_key_digest", author_key_digest)
        object.__setattr__(self, "report_id", report_id)
        object.__setattr__(self, "report_id_ma", report_id_ma)
        object.__setattr__(self, "reported_tcb", reported_tcb)
        object.__setattr__(self, "cpuid_fam_id", cpuid_fam_id)
        object.__setattr__(self, "cpuid_mod_id", cpuid_mod_id)
        object.__setattr__(self, "cpuid_step", cpuid_step)
        object.__setattr__(self, "chip_id", chip_id)
        object.__setattr__(self, "committed_tcb", committed_tcb)
        object.__setattr__(self, "current_build", current_build)
        object.__setattr__(self, "current_minor", current_minor)
        object.__setattr__(self, "current_major", current_major)
        object.__setattr__(self, "committed_build", committed_build)
        object.__setattr__(self, "committed_minor", committed_minor)
        object.__setattr__(self, "committed_major", committed_major)
        object.__setattr__(self, "launch_tcb", launch_tcb)
        object.__setattr__(self, "launch_mit_vector", launch_mit_vector)
        object.__setattr__(self, "current_mit_vector", current_mit_vector)
        object.__setattr__(self, "signature_r", signature_r)
        object.__setattr__(self, "signature_s", signature_s)
        object.__setattr__(self, "product", product)
        object.__setattr__(self, "product_source", product_source)
        object.__setattr__(self, "raw", raw)

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

    def field_values(self) -> dict[str, object]:
        """The report's fields by attribute, as :func:`build_report` takes them."""
        return {f.attr: getattr(self, f.attr) for f in fields_of(self.version) if f.attr}

    def to_bytes(self) -> bytes:
        """The report's 0x4A0 bytes, built from its fields through :data:`REPORT_FIELDS`."""
        return build_report(self.field_values())

    def with_product(self, product: ProductLine) -> AttestationReport:
        """The same report with its TCBs re-decoded for ``product`` (e.g. learned from the VCEK)."""
        return self.replace(
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
    version_field = _FIELD["version"]
    version = version_field.uint(data)
    if version not in SUPPORTED_VERSIONS:
        raise _fail(
            f"unsupported report version {version}; Cairn reads 2-5",
            version_field.name,
            version_field.offset,
            hint="is this really an SEV-SNP attestation report (not a quote or a wrapped blob)?",
        )
    algo_field = _FIELD["signature_algo"]
    algo = algo_field.uint(data)
    if algo != SIG_ALGO_ECDSA_P384_SHA384:
        raise _fail(
            f"SIGNATURE_ALGO is {algo}; the only defined value is 1 (ECDSA P-384 with SHA-384)",
            algo_field.name,
            algo_field.offset,
        )
    policy_field = _FIELD["policy"]
    policy = GuestPolicy(policy_field.uint(data))
    if not policy.reserved_must_be_one:
        raise _fail(
            f"POLICY bit {GuestPolicy.reserved_must_be_one.bit} is reserved and must be 1 "
            f"(policy 0x{policy.raw:X})",
            policy_field.name,
            policy_field.offset,
        )
    for rng, zeros in _ZEROED[version]:
        chunk = data[rng.start : rng.end]
        if chunk != zeros:
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
    signer_field = _FIELD["signer_info"]
    signer = SignerInfo(signer_field.uint(data))
    if not signer.signing_key_known:
        raise ParseError(
            f"SIGNING_KEY value {signer.signing_key_bits} is reserved (0 = VCEK, 1 = VLEK, "
            "7 = none)",
            component=COMPONENT,
            field="SIGNING_KEY",
            offset=signer_field.offset,
        )
    return version


def parse_report(data: bytes, *, product: ProductLine | None = None) -> AttestationReport:
    """Parse and strictly validate a 1184-byte SEV-SNP attestation report.

    TCBs are decoded for ``product`` when given, else for the product the v3+ CPUID fields name,
    else with the Milan/Genoa layout (recorded as ``product=None``; see ``with_product``).
    """
    data = _check_size(data)
    version = _validate_header(data)
    if product is not None:
        source = ProductSource.CALLER
    elif version in _FIELD["cpuid_fam_id"].versions:
        family, model = _FIELD["cpuid_fam_id"].uint(data), _FIELD["cpuid_mod_id"].uint(data)
        product = ProductLine.from_cpuid(family, model)
        source = ProductSource.CPUID if product is not None else ProductSource.UNKNOWN
    else:
        source = ProductSource.UNKNOWN
    values: dict[str, Any] = dict.fromkeys(_FIELD)  # None: not in this version's layout
    # ReportField.decode, unrolled over the version's plan (this runs for every report).
    for attr, start, end, codec, bit_field in _decode_plan(version):
        raw = data[start:end]
        if codec is Codec.BYTES:
            values[attr] = raw
        elif codec is Codec.TCB:
            values[attr] = TcbVersion.decode(raw, product)
        elif bit_field is None:
            values[attr] = int.from_bytes(raw, "little")
        else:
            values[attr] = bit_field(int.from_bytes(raw, "little"))
    return AttestationReport(**values, product=product, product_source=source, raw=data)


if TYPE_CHECKING:
    _BitFieldClass = type[GuestPolicy] | type[PlatformInfo] | type[SignerInfo]
    _Plan = tuple[tuple[str, int, int, Codec, _BitFieldClass | None], ...]
_PLANS: dict[int, _Plan] = {}


def _decode_plan(version: int) -> _Plan:
    """(attribute, start, end, codec, bit field class) of each field of a ``version`` report,
    worked out from :data:`REPORT_FIELDS` on first use and kept (versions are 2-5)."""
    plan = _PLANS.get(version)
    if plan is None:
        plan = tuple(
            (f.attr, f.offset, f.end, f.codec, _BIT_FIELDS.get(f.codec))
            for f in fields_of(version)
            if f.attr is not None
        )
        _PLANS[version] = plan
    return plan


def build_report(values: Mapping[str, object]) -> bytes:
    """A report's 0x4A0 bytes from field values by attribute (``values["version"]`` picks the
    layout); fields not given, reserved bytes and the signature tail are zero.

    Values are what :class:`AttestationReport` holds (``TcbVersion``, ``GuestPolicy``, …) or the
    raw int/bytes. An unknown attribute, or one the version lacks, is a ``ValueError``; so is a
    value of the wrong size (``OverflowError`` for an int too large). To sign, build without
    ``signature_r``/``signature_s``, sign the first :data:`SIGNED_SIZE` bytes, build again with
    them.
    """
    version = values.get("version")
    if not isinstance(version, int) or version not in SUPPORTED_VERSIONS:
        raise ValueError(f"version must be one of {SUPPORTED_VERSIONS}, got {version!r}")
    fields = {f.attr: f for f in fields_of(version) if f.attr is not None}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"a version {version} report has no field {', '.join(unknown)}")
    out = bytearray(REPORT_SIZE)
    for attr, value in values.items():
        field = fields[attr]
        out[field.offset : field.end] = field.encode(value)
    return bytes(out)
