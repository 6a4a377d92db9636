"""AMD EPYC product lines that SEV-SNP attestation distinguishes (Milan, Genoa, Turin).

The names are the ones AMD's Key Distribution Service (KDS) uses in its URLs and in the
``productName`` extension of VCEK/VLEK certificates.
"""

from __future__ import annotations

from enum import StrEnum

from ..errors import MalformedInputError

# CPUID family/model ranges (combined extended + base fields, as the report stores them).
_FAMILY_ZEN3_ZEN4 = 0x19
_FAMILY_ZEN5 = 0x1A


class ProductLine(StrEnum):
    """An AMD EPYC product line with its own ARK/ASK and VCEK namespace at KDS."""

    MILAN = "Milan"
    GENOA = "Genoa"
    TURIN = "Turin"

    @classmethod
    def from_cpuid(cls, family: int, model: int) -> ProductLine | None:
        """Map a CPUID family/model (as in report v3+ CPUID_FAM_ID/CPUID_MOD_ID) to a product line.

        Family 0x19: models 0x00-0x0F Milan, 0x10-0x1F and 0xA0-0xAF Genoa (the latter are
        Genoa-class parts that KDS serves under "Genoa"); family 0x1A: models 0x00-0x11 Turin.
        Anything else returns None (unknown to Cairn, not an error).
        """
        if family == _FAMILY_ZEN3_ZEN4:
            if 0x00 <= model <= 0x0F:
                return cls.MILAN
            if 0x10 <= model <= 0x1F or 0xA0 <= model <= 0xAF:
                return cls.GENOA
        elif family == _FAMILY_ZEN5 and 0x00 <= model <= 0x11:
            return cls.TURIN
        return None

    @classmethod
    def parse(cls, text: str) -> ProductLine:
        """Parse a product name case-insensitively ("Milan-B0" style: the part before '-')."""
        name = text.strip().split("-", 1)[0].strip().lower()
        for product in cls:
            if product.value.lower() == name:
                return product
        valid = ", ".join(p.value for p in cls)
        raise MalformedInputError(
            f"unknown AMD product line {text!r}; valid names: {valid}",
            component="snp-product",
            hint="name the product line as AMD KDS does (Milan, Genoa or Turin)",
        )

    @property
    def has_fmc_tcb(self) -> bool:
        """True when TCB_VERSION carries an FMC component (Turin layout)."""
        return self is ProductLine.TURIN
