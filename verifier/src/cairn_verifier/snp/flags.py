"""The bit fields of the SEV-SNP ATTESTATION_REPORT: guest policy, platform info, signer info.

Each bit is named once, with its meaning (AMD SEV-SNP Firmware ABI specification 56860, tables
"GUEST_POLICY", "PLATFORM_INFO" and "ATTESTATION_REPORT"), and the same table decodes a report's
value and builds one (:mod:`cairn_verifier.bits`). Bits no row names are not rejected: AMD
has repeatedly given reserved bits a meaning in newer firmware; they surface as
``reserved_bits``.
"""

from __future__ import annotations

from enum import IntEnum

from ..bits import Bits, Flag, IntBitField


class SigningKey(IntEnum):
    """SIGNING_KEY (signer info bits 4:2): which key signed the report."""

    VCEK = 0
    VLEK = 1
    NONE = 7


class GuestPolicy(IntBitField):
    """POLICY (0x08): the guest policy the VM was launched with; the firmware enforces it."""

    __slots__ = ()

    abi_minor = Bits(0, 8, "minimum firmware ABI minor version the guest may run on")
    abi_major = Bits(8, 8, "minimum firmware ABI major version the guest may run on")
    smt = Flag(16, "SMT allowed: the guest may run beside other code on sibling threads")
    reserved_must_be_one = Flag(17, "reserved, must be one", listed=False, default=True)
    migrate_ma = Flag(18, "a migration agent may be associated (it can export guest memory)")
    debug = Flag(19, "debugging allowed: the host may read and write guest memory and state")
    single_socket = Flag(20, "the guest may only be activated on one socket")
    cxl_allow = Flag(21, "CXL may be populated with devices or memory")
    mem_aes_256_xts = Flag(22, "AES-256-XTS required for memory encryption")
    rapl_dis = Flag(23, "Running Average Power Limit (RAPL) must be disabled")
    ciphertext_hiding = Flag(24, "ciphertext hiding must be enabled")
    page_swap_disable = Flag(25, "SNP_PAGE_MOVE and SNP_SWAP_OUT/IN are disabled for the guest")

    @property
    def abi_version(self) -> str:
        return f"{self.abi_major}.{self.abi_minor}"


class PlatformInfo(IntBitField):
    """PLATFORM_INFO (0x40): platform state when the report was generated.

    Bits 0-5 are defined in spec 56860. Bit 6 is listed as reserved in the spec revisions that
    go-sev-guest and virtee/sev follow, yet every Turin report sets it; tinfoil's verifiers
    (tinfoil-go, its go-sev-guest fork) decode it as IOMMU_WRITE_SAFE (the IOMMU write-buffer
    mitigation of AMD-SB-3016) and bit 7 as TIO_EN (SEV-TIO enabled). Cairn uses those names
    and never rejects either bit.
    """

    __slots__ = ()

    smt_en = Flag(0, "SMT is enabled on the platform")
    tsme_en = Flag(1, "transparent SME (all memory encrypted) is enabled")
    ecc_en = Flag(2, "the platform uses error-correcting memory")
    rapl_dis = Flag(3, "RAPL is disabled")
    ciphertext_hiding_en = Flag(4, "ciphertext hiding is enabled")
    alias_check_complete = Flag(5, "the memory alias check completed and found no aliasing")
    iommu_write_safe = Flag(6, "IOMMU write-buffer mitigation of AMD-SB-3016 is in place")
    tio_en = Flag(7, "SEV-TIO (trusted I/O) is enabled")


class SignerInfo(IntBitField):
    """The signer-info word (0x48): AUTHOR_KEY_EN, MASK_CHIP_ID and SIGNING_KEY; bits 5-31 are
    reserved."""

    __slots__ = ()
    width = 32

    author_key_en = Flag(0, "AUTHOR_KEY_DIGEST holds the digest of the ID block's author key")
    mask_chip_id = Flag(1, "CHIP_ID is masked (zero), as the guest asked (MASK_CHIP_ID)")
    signing_key_bits = Bits(2, 3, "which key signed the report: 0 VCEK, 1 VLEK, 7 none")

    @property
    def signing_key(self) -> SigningKey:
        """SIGNING_KEY; ValueError for a value the spec reserves (see ``signing_key_known``)."""
        return SigningKey(self.signing_key_bits)

    @property
    def signing_key_known(self) -> bool:
        return self.signing_key_bits in {key.value for key in SigningKey}
