"""SEV-SNP TCB_VERSION: the 8-byte security patch levels, decoded per product line.

Layouts (AMD SEV-SNP ABI spec 56860, TCB_VERSION; byte 0 is the least significant byte):

* Milan/Genoa: [0]=BOOT_LOADER [1]=TEE [2..5]=reserved [6]=SNP [7]=MICROCODE
* Turin:       [0]=FMC [1]=BOOT_LOADER [2]=TEE [3]=SNP [4..6]=reserved [7]=MICROCODE

The reserved bytes are not rejected here: on Milan/Genoa they correspond to the VCEK's
spl4..spl7 extensions, so a comparison with a certificate must look at all eight bytes.
"""

from __future__ import annotations

from enum import StrEnum

from ..errors import ParseError
from ..records import Record
from .product import ProductLine

TCB_SIZE = 8


class TcbLayout(StrEnum):
    """Which byte layout a TcbVersion was decoded with."""

    MILAN_GENOA = "Milan/Genoa"
    TURIN = "Turin"

    @classmethod
    def for_product(cls, product: ProductLine | None) -> TcbLayout:
        return cls.TURIN if product is ProductLine.TURIN else cls.MILAN_GENOA


def tcb_components(
    *, fmc: int | None, bootloader: int, tee: int, snp: int, microcode: int
) -> dict[str, int]:
    """Security patch levels by the names a report's TCB and a VCEK's extensions share (the
    KDS/VCEK names without the "SPL" suffix), in KDS order: ``fmc`` (Turin only) first."""
    parts = {} if fmc is None else {"fmc": fmc}
    return parts | {"bootloader": bootloader, "tee": tee, "snp": snp, "microcode": microcode}


_DECODED: dict[tuple[type[TcbVersion], bytes, ProductLine | None], TcbVersion] = {}
"""Decoded TCB_VERSIONs by their bytes and product line: a TcbVersion is an immutable value, and
a report carries four of them, mostly the same ones report after report (bounded: cleared when
full)."""
_DECODED_MAX = 1024


class TcbVersion(Record):
    """One decoded TCB_VERSION (current, reported, committed or launch TCB)."""

    bootloader: int
    tee: int
    snp: int
    microcode: int
    fmc: int | None
    raw: bytes
    layout: TcbLayout
    product: ProductLine | None

    __slots__ = ("bootloader", "fmc", "layout", "microcode", "product", "raw", "snp", "tee")

    def __init__(  # noqa: PLR0917
        self,
        bootloader: int,
        tee: int,
        snp: int,
        microcode: int,
        fmc: int | None,
        raw: bytes,
        layout: TcbLayout,
        product: ProductLine | None,
    ) -> None:
        object.__setattr__(self, "bootloader", bootloader)
        object.__setattr__(self, "tee", tee)
        object.__setattr__(self, "snp", snp)
        object.__setattr__(self, "microcode", microcode)
        object.__setattr__(self, "fmc", fmc)
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "layout", layout)
        object.__setattr__(self, "product", product)

    @classmethod
    def decode(cls, raw: bytes, product: ProductLine | None) -> TcbVersion:
        """Decode 8 raw bytes; with no product the Milan/Genoa layout is assumed."""
        if len(raw) != TCB_SIZE:
            raise ParseError(
                f"TCB_VERSION must be {TCB_SIZE} bytes, got {len(raw)}",
                component="snp-tcb",
                field="TCB_VERSION",
            )
        raw = bytes(raw)
        key = (cls, raw, product)
        known = _DECODED.get(key)
        if known is not None:
            return known
        if len(_DECODED) >= _DECODED_MAX:
            _DECODED.clear()
        decoded = _DECODED[key] = cls._decode(raw, product)
        return decoded

    @classmethod
    def _decode(cls, raw: bytes, product: ProductLine | None) -> TcbVersion:
        layout = TcbLayout.for_product(product)
        if layout is TcbLayout.TURIN:
            return cls(
                fmc=raw[0],
                bootloader=raw[1],
                tee=raw[2],
                snp=raw[3],
                microcode=raw[7],
                raw=raw,
                layout=layout,
                product=product,
            )
        return cls(
            fmc=None,
            bootloader=raw[0],
            tee=raw[1],
            snp=raw[6],
            microcode=raw[7],
            raw=raw,
            layout=layout,
            product=product,
        )

    def with_product(self, product: ProductLine | None) -> TcbVersion:
        """Re-decode the same raw bytes for another (e.g. newly learned) product line."""
        return TcbVersion.decode(self.raw, product)

    @property
    def layout_assumed(self) -> bool:
        """True when the product was unknown and the Milan/Genoa layout was assumed."""
        return self.product is None

    @property
    def reserved(self) -> bytes:
        """The bytes the layout reserves (Milan/Genoa [2..5], Turin [4..6])."""
        return self.raw[4:7] if self.layout is TcbLayout.TURIN else self.raw[2:6]

    @property
    def as_int(self) -> int:
        """The TCB as the little-endian u64 the firmware uses."""
        return int.from_bytes(self.raw, "little")

    def components(self) -> dict[str, int]:
        """Named security patch levels (the KDS/VCEK names without the "SPL" suffix)."""
        return tcb_components(
            fmc=self.fmc,
            bootloader=self.bootloader,
            tee=self.tee,
            snp=self.snp,
            microcode=self.microcode,
        )

    def __str__(self) -> str:
        fmc = f"fmc={self.fmc} " if self.fmc is not None else ""
        return f"{fmc}bl={self.bootloader} tee={self.tee} snp={self.snp} ucode={self.microcode}"
