"""A simulated AMD SEV-SNP platform for CI and laptops: real ATTESTATION_REPORT bytes (version 3,
1184 bytes) signed by a locally generated ARK -> ASK -> VCEK chain shaped like AMD's.

Nothing produced here is hardware-backed. The ARK carries O = "Cairn SIMULATED (not AMD)", and
a Cairn verifier accepts it only when the user names it with ``--trust-simulated-root``.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from cairn_verifier.api import Certificate, parse_certificate

from .base import ProviderError, TeeEvidence
from .simulated_ca import (
    CertSpec,
    StateDir,
    build_certificate,
    certificate_der,
    certificate_pem,
    export_new_file,
    vendor_name,
)

log = logging.getLogger(__name__)

ORGANISATION = "Cairn SIMULATED (not AMD)"
REPORT_SIZE = 0x4A0
SIGNED_SIZE = 0x2A0
REPORT_VERSION = 3
GUEST_POLICY = 0x30000  # ABI 0.0, SMT allowed, bit 17 (reserved, must be one); no debug
PLATFORM_INFO = 0x25  # SMT_EN, ECC_EN, ALIAS_CHECK_COMPLETE: what real Genoa hosts report
FIRMWARE = (1, 55, 40)  # major, minor, build
LAUNCH_DESCRIPTION = (
    b"Cairn simulated SEV-SNP launch, version 1: no firmware, kernel or initrd was measured"
)
"""MEASUREMENT is SHA-384 of this fixed text: stable across runs, and matches no real guest."""

_AMD_OID = "1.3.6.1.4.1.3704.1"


@dataclass(frozen=True)
class _Product:
    name: str
    product_name: str  # the VCEK productName extension, as AMD writes it
    cpuid_model: int


_PRODUCTS = {
    "Milan": _Product("Milan", "Milan-B0", 0x01),
    "Genoa": _Product("Genoa", "Genoa", 0x11),
}
_CPUID_FAMILY = 0x19
_CPUID_STEPPING = 0x01


@dataclass(frozen=True)
class SimulatedTcb:
    """The simulated platform's security patch levels (Milan/Genoa layout)."""

    bootloader: int = 9
    tee: int = 0
    snp: int = 23
    microcode: int = 72
    spl4_7: tuple[int, int, int, int] = (0, 0, 0, 0)

    def raw(self) -> bytes:
        """TCB_VERSION bytes: [0]=BL [1]=TEE [2..5]=spl4..7 [6]=SNP [7]=UCODE."""
        return bytes([self.bootloader, self.tee, *self.spl4_7, self.snp, self.microcode])


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
    return bytes([0x02, len(body)]) + body


def _der_ia5(text: str) -> bytes:
    body = text.encode("ascii")
    return bytes([0x16, len(body)]) + body


def _amd_extension(suffix: str, value: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(f"{_AMD_OID}.{suffix}"), value)


def vcek_extensions(product: str, tcb: SimulatedTcb, chip_id: bytes) -> list[x509.ExtensionType]:
    """The AMD VCEK extensions, encoded as AMD does (hwID is the raw 64 bytes, no DER tag)."""
    spl = dict(zip((4, 5, 6, 7), tcb.spl4_7, strict=True))
    return [
        _amd_extension("1", _der_integer(0)),  # structVersion
        _amd_extension("2", _der_ia5(_PRODUCTS[product].product_name)),
        _amd_extension("3.1", _der_integer(tcb.bootloader)),
        _amd_extension("3.2", _der_integer(tcb.tee)),
        *(_amd_extension(f"3.{n}", _der_integer(spl[n])) for n in (4, 5, 6, 7)),
        _amd_extension("3.3", _der_integer(tcb.snp)),
        _amd_extension("3.8", _der_integer(tcb.microcode)),
        _amd_extension("4", chip_id),
    ]


class SimulatedSnpProvider:
    """SEV-SNP evidence from a simulated Genoa (or Milan) platform; never hardware-backed."""

    name = "simulated-snp"

    def __init__(self, state_dir: Path, product: str = "Genoa"):
        if product not in _PRODUCTS:
            raise ProviderError(
                f"the simulated SEV-SNP platform supports {', '.join(_PRODUCTS)}, not {product!r}",
                hint="set the simulated product to Genoa or Milan",
            )
        self.product = product
        self.tcb = SimulatedTcb()
        self.state = StateDir(Path(state_dir) / f"simulated-snp-{product.lower()}")
        self.chip_id = self.state.random_bytes("chip_id.hex", 64)
        self._ark_key = self.state.rsa_key("ark.key")
        self._ask_key = self.state.rsa_key("ask.key")
        self._vcek_key = self.state.ec_key("vcek.key", ec.SECP384R1())
        ark_name = vendor_name(ORGANISATION, f"ARK-{product}", amd_style=True)
        ask_name = vendor_name(ORGANISATION, f"SEV-{product}", amd_style=True)
        self.ark = self.state.certificate(
            "ark.pem",
            self._ark_key,
            lambda: build_certificate(
                CertSpec(
                    ark_name,
                    ark_name,
                    self._ark_key.public_key(),
                    timedelta(days=25 * 365),
                    ca=True,
                ),
                self._ark_key,
            ),
        )
        self.ask = self.state.certificate(
            "ask.pem",
            self._ask_key,
            lambda: build_certificate(
                CertSpec(
                    ask_name,
                    ark_name,
                    self._ask_key.public_key(),
                    timedelta(days=25 * 365),
                    ca=True,
                    path_length=0,
                ),
                self._ark_key,
            ),
        )
        self.vcek = self.state.certificate(
            "vcek.pem",
            self._vcek_key,
            lambda: build_certificate(
                CertSpec(
                    vendor_name(ORGANISATION, "SEV-VCEK", amd_style=True),
                    ask_name,
                    self._vcek_key.public_key(),
                    timedelta(days=7 * 365),
                    ca=False,
                    extensions=vcek_extensions(product, self.tcb, self.chip_id),
                    with_key_ids=False,
                ),
                self._ask_key,
            ),
        )
        log.warning(
            "SIMULATED SEV-SNP: not hardware-backed (simulated %s platform, state in %s)",
            product,
            self.state.path,
        )

    @property
    def measurement(self) -> bytes:
        """SHA-384 of :data:`LAUNCH_DESCRIPTION`: the simulated launch digest."""
        return hashlib.sha384(LAUNCH_DESCRIPTION).digest()

    def describe(self) -> str:
        return f"simulated SEV-SNP ({self.product}), NOT hardware-backed"

    def certificates(self) -> tuple[bytes, bytes, bytes]:
        """VCEK, ASK, ARK as DER (what a host's extended report would carry)."""
        return certificate_der(self.vcek), certificate_der(self.ask), certificate_der(self.ark)

    def trust_roots(self) -> tuple[Certificate, ...]:
        """The simulated ARK, for a verifier that trusts it explicitly (tests, self-check)."""
        return (parse_certificate(certificate_der(self.ark)),)

    trust_root_name = "simulated ARK"

    def trust_root_pem(self) -> bytes:
        """The simulated ARK as PEM (what ``cairn verify --trust-simulated-root`` reads)."""
        return certificate_pem(self.ark)

    def export_trust_root(self, path: Path) -> None:
        """Write the simulated ARK as PEM (for ``--trust-simulated-root``); never overwrites."""
        export_new_file(Path(path), self.trust_root_pem(), self.trust_root_name)

    def get_evidence(self, report_data: bytes) -> TeeEvidence:
        if not isinstance(report_data, bytes) or len(report_data) != 64:
            raise ProviderError("REPORT_DATA must be exactly 64 bytes")
        return TeeEvidence(
            kind="sev-snp-simulated",
            report=self.report(report_data),
            certificates=self.certificates(),
            simulated=True,
        )

    def report(self, report_data: bytes) -> bytes:
        """A signed version 3 ATTESTATION_REPORT carrying ``report_data``."""
        body = bytearray(REPORT_SIZE)
        tcb = self.tcb.raw()
        major, minor, build = FIRMWARE
        struct.pack_into("<IIQ", body, 0x00, REPORT_VERSION, 0, GUEST_POLICY)
        struct.pack_into("<II", body, 0x30, 0, 1)  # VMPL 0, SIGNATURE_ALGO ECDSA P-384
        body[0x38:0x40] = tcb  # CURRENT_TCB
        struct.pack_into("<QI", body, 0x40, PLATFORM_INFO, 0)  # signer info: VCEK, unmasked
        body[0x50:0x90] = report_data
        body[0x90:0xC0] = self.measurement
        body[0x140:0x160] = hashlib.sha256(b"cairn simulated REPORT_ID" + self.chip_id).digest()
        body[0x160:0x180] = b"\xff" * 32  # REPORT_ID_MA: no migration agent
        body[0x180:0x188] = tcb  # REPORTED_TCB
        body[0x188:0x18B] = bytes([_CPUID_FAMILY, _PRODUCTS[self.product].cpuid_model, 1])
        body[0x1A0:0x1E0] = self.chip_id
        body[0x1E0:0x1E8] = tcb  # COMMITTED_TCB
        body[0x1E8:0x1EB] = bytes([build, minor, major])
        body[0x1EC:0x1EF] = bytes([build, minor, major])
        body[0x1F0:0x1F8] = tcb  # LAUNCH_TCB
        signature = self._vcek_key.sign(bytes(body[:SIGNED_SIZE]), ec.ECDSA(hashes.SHA384()))
        r, s = decode_dss_signature(signature)
        body[0x2A0:0x2E8] = r.to_bytes(72, "little")
        body[0x2E8:0x330] = s.to_bytes(72, "little")
        return bytes(body)
