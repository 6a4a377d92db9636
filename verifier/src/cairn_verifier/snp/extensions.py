"""The AMD-specific X.509 extensions of a VCEK or VLEK (OID arc 1.3.6.1.4.1.3704.1).

structVersion (.1), productName (.2), the security patch levels blSPL, teeSPL, spl4-7, snpSPL,
ucodeSPL and (Turin) fmcSPL (.3.1-.3.9), hwID (.4, VCEK: the chip id) and cspID (.5, VLEK: the
cloud provider). AMD encodes hwID as raw bytes, not DER; everything else is DER.
"""

from __future__ import annotations

import functools

from ..errors import MalformedInputError, ParseError
from ..records import Record
from ..x509.cert import Certificate
from ..x509.der import IA5_STRING, INTEGER, OCTET_STRING, parse_single
from .product import ProductLine
from .roles import COMPONENT, AmdCertRole, amd_cert_role
from .tcb import tcb_components

AMD_OID = "1.3.6.1.4.1.3704.1"
"""The arc of AMD's VCEK/VLEK extensions."""


class AmdExtensions(Record):
    """The AMD-specific extensions of a VCEK or VLEK (OID arc 1.3.6.1.4.1.3704.1)."""

    struct_version: int
    product_name: str
    bl_spl: int
    tee_spl: int
    snp_spl: int
    ucode_spl: int
    spl_4: int | None
    spl_5: int | None
    spl_6: int | None
    spl_7: int | None
    fmc_spl: int | None
    hwid: bytes | None
    csp_id: str | None

    __slots__ = (
        "bl_spl",
        "csp_id",
        "fmc_spl",
        "hwid",
        "product_name",
        "snp_spl",
        "spl_4",
        "spl_5",
        "spl_6",
        "spl_7",
        "struct_version",
        "tee_spl",
        "ucode_spl",
    )

    def __init__(  # noqa: PLR0917
        self,
        struct_version: int,
        product_name: str,
        bl_spl: int,
        tee_spl: int,
        snp_spl: int,
        ucode_spl: int,
        spl_4: int | None = None,
        spl_5: int | None = None,
        spl_6: int | None = None,
        spl_7: int | None = None,
        fmc_spl: int | None = None,
        hwid: bytes | None = None,
        csp_id: str | None = None,
    ) -> None:
        object.__setattr__(self, "struct_version", struct_version)
        object.__setattr__(self, "product_name", product_name)
        object.__setattr__(self, "bl_spl", bl_spl)
        object.__setattr__(self, "tee_spl", tee_spl)
        object.__setattr__(self, "snp_spl", snp_spl)
        object.__setattr__(self, "ucode_spl", ucode_spl)
        object.__setattr__(self, "spl_4", spl_4)
        object.__setattr__(self, "spl_5", spl_5)
        object.__setattr__(self, "spl_6", spl_6)
        object.__setattr__(self, "spl_7", spl_7)
        object.__setattr__(self, "fmc_spl", fmc_spl)
        object.__setattr__(self, "hwid", hwid)
        object.__setattr__(self, "csp_id", csp_id)

    @property
    def product(self) -> ProductLine:
        return ProductLine.parse(self.product_name)

    @classmethod
    def from_certificate(cls, cert: Certificate) -> AmdExtensions:
        """Decode the extensions; ParseError naming the extension when one is missing or bad.

        Certificates are immutable, so each distinct one is decoded once (keyed by its DER and
        parsed extensions).
        """
        return _decode_extensions(cert, tuple(cert.extensions.values()))

    @classmethod
    def _decode(cls, cert: Certificate) -> AmdExtensions:
        role = amd_cert_role(cert)
        if not role.is_leaf:
            raise ParseError(
                f"'{cert.display_name}' is an {role}: only VCEKs and VLEKs carry TCB extensions",
                component=COMPONENT,
            )
        product_name = _ia5(cert, "productName", f"{AMD_OID}.2", required=True)
        assert product_name is not None
        try:
            product = ProductLine.parse(product_name)
        except MalformedInputError as exc:
            raise ParseError(exc.message, component=COMPONENT, field="productName") from exc
        fmc = _spl(cert, "fmcSPL", 9, required=product.has_fmc_tcb)
        hwid = _hwid(cert, product, required=role is AmdCertRole.VCEK)
        csp_id = _ia5(cert, "cspID", f"{AMD_OID}.5", required=role is AmdCertRole.VLEK)
        return cls(
            struct_version=_integer(cert, "structVersion", f"{AMD_OID}.1", required=True) or 0,
            product_name=product_name,
            bl_spl=_spl(cert, "blSPL", 1, required=True) or 0,
            tee_spl=_spl(cert, "teeSPL", 2, required=True) or 0,
            snp_spl=_spl(cert, "snpSPL", 3, required=True) or 0,
            ucode_spl=_spl(cert, "ucodeSPL", 8, required=True) or 0,
            spl_4=_spl(cert, "spl4", 4),
            spl_5=_spl(cert, "spl5", 5),
            spl_6=_spl(cert, "spl6", 6),
            spl_7=_spl(cert, "spl7", 7),
            fmc_spl=fmc,
            hwid=hwid,
            csp_id=csp_id,
        )

    def tcb_components(self) -> dict[str, int]:
        """The certificate's TCB with the names TcbVersion.components() uses."""
        return tcb_components(
            fmc=self.fmc_spl if self.product.has_fmc_tcb else None,
            bootloader=self.bl_spl,
            tee=self.tee_spl,
            snp=self.snp_spl,
            microcode=self.ucode_spl,
        )


@functools.lru_cache(maxsize=128)
def _decode_extensions(cert: Certificate, extensions: tuple[object, ...]) -> AmdExtensions:
    del extensions  # part of the cache key only
    return AmdExtensions._decode(cert)


def _extension_value(cert: Certificate, name: str, oid: str, required: bool) -> bytes | None:
    ext = cert.extensions.get(oid)
    if ext is None:
        if required:
            raise ParseError(
                f"'{cert.display_name}' lacks the {name} extension ({oid})",
                component=COMPONENT,
                field=name,
            )
        return None
    return ext.value


def _inner(cert: Certificate, name: str, value: bytes, tag: int) -> bytes:
    try:
        tlv = parse_single(value, name)
    except ParseError as exc:
        raise ParseError(
            f"'{cert.display_name}': {name} is not valid DER ({exc.message})",
            component=COMPONENT,
            field=name,
        ) from exc
    if tlv.tag != tag:
        raise ParseError(
            f"'{cert.display_name}': {name} has DER tag 0x{tlv.tag:02x}, expected 0x{tag:02x}",
            component=COMPONENT,
            field=name,
        )
    return tlv.content


def _integer(cert: Certificate, name: str, oid: str, *, required: bool = False) -> int | None:
    value = _extension_value(cert, name, oid, required)
    if value is None:
        return None
    content = _inner(cert, name, value, INTEGER)
    if not content or (len(content) > 1 and content[0] == 0 and content[1] < 0x80):
        raise ParseError(
            f"'{cert.display_name}': {name} is not a minimal DER INTEGER",
            component=COMPONENT,
            field=name,
        )
    return int.from_bytes(content, "big", signed=True)


def _spl(cert: Certificate, name: str, number: int, *, required: bool = False) -> int | None:
    value = _integer(cert, name, f"{AMD_OID}.3.{number}", required=required)
    if value is not None and not 0 <= value <= 0xFF:
        raise ParseError(
            f"'{cert.display_name}': {name} {value} is outside 0..255",
            component=COMPONENT,
            field=name,
        )
    return value


def _ia5(cert: Certificate, name: str, oid: str, *, required: bool = False) -> str | None:
    value = _extension_value(cert, name, oid, required)
    if value is None:
        return None
    content = _inner(cert, name, value, IA5_STRING)
    try:
        return content.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"'{cert.display_name}': {name} is not ASCII", component=COMPONENT, field=name
        ) from exc


def _hwid(cert: Certificate, product: ProductLine, *, required: bool) -> bytes | None:
    """hwID: raw bytes (64 on Milan/Genoa, 8 on Turin), or the same wrapped in an OCTET STRING."""
    value = _extension_value(cert, "hwID", f"{AMD_OID}.4", required)
    if value is None:
        return None
    width = 8 if product.has_fmc_tcb else 64
    if len(value) == width:
        return value
    if len(value) == width + 2 and value[0] == OCTET_STRING and value[1] == width:
        return value[2:]
    raise ParseError(
        f"'{cert.display_name}': hwID has {len(value)} bytes, expected {width} for {product}",
        component=COMPONENT,
        field="hwID",
    )
