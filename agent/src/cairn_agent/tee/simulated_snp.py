"""A simulated AMD SEV-SNP platform for CI and laptops: real ATTESTATION_REPORT bytes (version 3,
1184 bytes) signed by a locally generated ARK -> ASK -> VCEK chain shaped like AMD's.

Nothing produced here is hardware-backed. The ARK carries O = "Cairn SIMULATED (not AMD)", and
a Cairn verifier accepts it only when the user names it with ``--trust-simulated-root``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from cairn_verifier.api import (
    SIG_ALGO_ECDSA_P384_SHA384,
    SIGNED_SIZE,
    GuestPolicy,
    PlatformInfo,
    SignerInfo,
    SigningKey,
    build_report,
    der_encode,
)

from .base import ProviderError, TeeEvidence, TeeKind
from .derived_key import DerivedKeyRequest, GuestField, RootKey
from .simulated_ca import (
    RSA_4096,
    Link,
    SimulatedRoot,
    StateDir,
    Vendor,
    build_chain,
    certificate_der,
    years,
)

log = logging.getLogger(__name__)

ORGANISATION = "Cairn SIMULATED (not AMD)"
REPORT_VERSION = 3
GUEST_POLICY = GuestPolicy.build(smt=True).raw  # ABI 0.0, SMT allowed, no debug (0x30000)
PLATFORM_INFO = PlatformInfo.build(smt_en=True, ecc_en=True, alias_check_complete=True).raw
"""SMT_EN, ECC_EN, ALIAS_CHECK_COMPLETE (0x25): what real Genoa hosts report."""
FIRMWARE = (1, 55, 40)  # major, minor, build
LAUNCH_DESCRIPTION = (
    b"Cairn simulated SEV-SNP launch, version 1: no firmware, kernel or initrd was measured"
)
"""MEASUREMENT is SHA-384 of this fixed text: stable across runs, and matches no real guest."""

MAX_LAUNCH_INPUT = 1 << 20
"""Largest file :func:`launch_description` reads (bytes)."""

_AMD_OID = "1.3.6.1.4.1.3704.1"


def launch_description(inputs: list[Path]) -> bytes:
    """The simulated launch: :data:`LAUNCH_DESCRIPTION`, then each input's path and SHA-384.

    The inputs stand for what the host chose to launch (a VM reads them from values the host
    sets, e.g. SMBIOS), as SEV-SNP's measured direct boot covers the kernel, initrd and command
    line: change one and the simulated MEASUREMENT, and every key derived from it, changes.
    Without inputs it is :data:`LAUNCH_DESCRIPTION` alone (the measurement of earlier versions).
    """
    parts = [LAUNCH_DESCRIPTION]
    for path in inputs:
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_LAUNCH_INPUT + 1)
        except OSError as exc:
            raise ProviderError(
                f"simulated SEV-SNP: cannot read the launch input {path}: {exc.strerror or exc}",
                hint="fix tee.simulated_launch_inputs or provide the file",
            ) from exc
        if len(data) > MAX_LAUNCH_INPUT:
            raise ProviderError(
                f"simulated SEV-SNP: the launch input {path} is over {MAX_LAUNCH_INPUT} bytes"
            )
        parts.append(b"\0" + str(path).encode() + b"\0" + hashlib.sha384(data).digest())
    return b"".join(parts)


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


def _amd_extension(suffix: str, value: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(f"{_AMD_OID}.{suffix}"), value)


def vcek_extensions(product: str, tcb: SimulatedTcb, chip_id: bytes) -> list[x509.ExtensionType]:
    """The AMD VCEK extensions, encoded as AMD does (hwID is the raw 64 bytes, no DER tag)."""
    spl = dict(zip((4, 5, 6, 7), tcb.spl4_7, strict=True))
    integer = der_encode.integer
    return [
        _amd_extension("1", integer(0)),  # structVersion
        _amd_extension("2", der_encode.ia5_string(_PRODUCTS[product].product_name)),
        _amd_extension("3.1", integer(tcb.bootloader)),
        _amd_extension("3.2", integer(tcb.tee)),
        *(_amd_extension(f"3.{n}", integer(spl[n])) for n in (4, 5, 6, 7)),
        _amd_extension("3.3", integer(tcb.snp)),
        _amd_extension("3.8", integer(tcb.microcode)),
        _amd_extension("4", chip_id),
    ]


class SimulatedSnpProvider(SimulatedRoot):
    """SEV-SNP evidence from a simulated Genoa (or Milan) platform; never hardware-backed."""

    name = "simulated-snp"
    kinds: tuple[TeeKind, ...] = ("sev-snp-simulated",)
    trust_root_name = "simulated ARK"

    def __init__(
        self,
        state_dir: Path,
        product: str = "Genoa",
        *,
        launch_description: bytes = LAUNCH_DESCRIPTION,
        guest_svn: int = 0,
        family_id: bytes = bytes(16),
        image_id: bytes = bytes(16),
    ):
        if product not in _PRODUCTS:
            raise ProviderError(
                f"the simulated SEV-SNP platform supports {', '.join(_PRODUCTS)}, not {product!r}",
                hint="set the simulated product to Genoa or Milan",
            )
        self.product = product
        self.tcb = SimulatedTcb()
        self.launch_description = launch_description
        self.guest_svn = guest_svn
        self.family_id = family_id
        self.image_id = image_id
        self.state = StateDir(Path(state_dir) / f"simulated-snp-{product.lower()}")
        self.chip_id = self.state.random_bytes("chip_id.hex", 64)
        self._chip_secret = self.state.random_bytes("chip_secret.hex", 32)
        """The simulated chip's key-derivation secret (a real one never leaves the AMD-SP)."""
        self.chain = chain = build_chain(
            self.state,
            Vendor(ORGANISATION, amd_style=True),
            [
                Link("ark", f"ARK-{product}", "ark", RSA_4096, years(25)),
                Link("ask", f"SEV-{product}", "ark", RSA_4096, years(25), path_length=0),
                Link(
                    "vcek",
                    "SEV-VCEK",
                    "ask",
                    ec.SECP384R1(),
                    years(7),
                    ca=False,
                    extensions=vcek_extensions(product, self.tcb, self.chip_id),
                    with_key_ids=False,
                ),
            ],
        )
        self.ark, self.ask, self.vcek = (chain.certificates[n] for n in ("ark", "ask", "vcek"))
        self._vcek_key = chain.ec_key("vcek")
        log.warning(
            "SIMULATED SEV-SNP: not hardware-backed (simulated %s platform, state in %s)",
            product,
            self.state.path,
        )

    @property
    def measurement(self) -> bytes:
        """SHA-384 of the launch description (:data:`LAUNCH_DESCRIPTION` unless another was
        given): the simulated launch digest."""
        return hashlib.sha384(self.launch_description).digest()

    def describe(self) -> str:
        return f"simulated SEV-SNP ({self.product}), NOT hardware-backed"

    def certificates(self) -> tuple[bytes, bytes, bytes]:
        """VCEK, ASK, ARK as DER (what a host's extended report would carry)."""
        return certificate_der(self.vcek), certificate_der(self.ask), certificate_der(self.ark)

    def get_evidence(self, report_data: bytes) -> TeeEvidence:
        if not isinstance(report_data, bytes) or len(report_data) != 64:
            raise ProviderError("REPORT_DATA must be exactly 64 bytes")
        return TeeEvidence(
            kind="sev-snp-simulated",
            report=self.report(report_data),
            certificates=self.certificates(),
        )

    def report(self, report_data: bytes, *, vmpl: int = 0) -> bytes:
        """A signed version 3 ATTESTATION_REPORT carrying ``report_data``, built through the
        verifier's field table (``cairn_verifier.snp.report.build_report``); ``vmpl``: the VMPL
        it says it was requested at (tests of what a guest at VMPL > 0 could make)."""
        tcb = self.tcb.raw()
        major, minor, build = FIRMWARE
        fields: dict[str, object] = {
            "version": REPORT_VERSION,
            "guest_svn": self.guest_svn,
            "policy": GUEST_POLICY,
            "family_id": self.family_id,
            "image_id": self.image_id,
            "vmpl": vmpl,
            "signature_algo": SIG_ALGO_ECDSA_P384_SHA384,
            "current_tcb": tcb,
            "platform_info": PLATFORM_INFO,
            "signer_info": SignerInfo.build(signing_key_bits=SigningKey.VCEK),  # unmasked
            "report_data": report_data,
            "measurement": self.measurement,
            "report_id": hashlib.sha256(b"cairn simulated REPORT_ID" + self.chip_id).digest(),
            "report_id_ma": b"\xff" * 32,  # no migration agent
            "reported_tcb": tcb,
            "cpuid_fam_id": _CPUID_FAMILY,
            "cpuid_mod_id": _PRODUCTS[self.product].cpuid_model,
            "cpuid_step": _CPUID_STEPPING,
            "chip_id": self.chip_id,
            "committed_tcb": tcb,
            "current_build": build,
            "current_minor": minor,
            "current_major": major,
            "committed_build": build,
            "committed_minor": minor,
            "committed_major": major,
            "launch_tcb": tcb,
        }
        unsigned = build_report(fields)
        signature = self._vcek_key.sign(unsigned[:SIGNED_SIZE], ec.ECDSA(hashes.SHA384()))
        r, s = decode_dss_signature(signature)
        return build_report({**fields, "signature_r": r, "signature_s": s})

    def derived_key(self, request: DerivedKeyRequest) -> bytes:
        """``MSG_KEY_REQ`` as the simulated firmware answers it: HMAC-SHA256 under this chip's
        secret over the request's root key, VMPL and every selected launch field (the requested
        SVN and TCB version for those two), refusing what real firmware refuses. The same chip
        and selection give the same key; another chip, or a change in a selected field, another.
        """
        if request.root_key is not RootKey.VCEK:
            raise ProviderError(
                "simulated SEV-SNP: no VMRK (no migration agent runs), so no key can be derived "
                "from it",
                hint="derive from the VCEK (root key vcek)",
            )
        if request.guest_svn > self.guest_svn:
            raise ProviderError(
                f"simulated SEV-SNP firmware: INVALID_PARAM (0x16): guest SVN {request.guest_svn} "
                f"is above the guest's SVN {self.guest_svn}"
            )
        committed = self.tcb.raw()
        asked = request.tcb_version.to_bytes(8, "little")
        if any(a > c for a, c in zip(asked, committed, strict=True)):
            raise ProviderError(
                "simulated SEV-SNP firmware: INVALID_PARAM (0x16): TCB version "
                f"{asked.hex()} is above the committed TCB {committed.hex()}"
            )
        fields = request.fields
        context = [
            b"cairn simulated MSG_KEY_REQ v1",
            bytes([request.vmpl]),
            int(fields).to_bytes(8, "little"),
        ]
        selected = {
            GuestField.GUEST_POLICY: GUEST_POLICY.to_bytes(8, "little"),
            GuestField.IMAGE_ID: self.image_id,
            GuestField.FAMILY_ID: self.family_id,
            GuestField.MEASUREMENT: self.measurement,
            GuestField.GUEST_SVN: request.guest_svn.to_bytes(4, "little"),
            GuestField.TCB_VERSION: asked,
        }
        context += [value for bit, value in selected.items() if fields & bit]
        return hmac.new(self._chip_secret, b"".join(context), hashlib.sha256).digest()
