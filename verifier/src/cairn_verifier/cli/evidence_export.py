"""``cairn collateral export --evidence BUNDLE``: what in a Cairn evidence bundle needs collateral.

A bundle (a file, or fetched from an agent's ``/v1/evidence`` for a fresh random nonce, as
``cairn verify evidence`` fetches it) is taken apart into what the rest of the export already
handles: the SEV-SNP report (bare, or inside Azure's HCL report) with the certificates the agent
sent beside it, which seed the export as ``--certs`` would; the TDX quote (bare, or after Azure's
HCL report) with the Intel collateral the agent embedded, which seeds it as ``--collateral``
would; and the GPU devices, exported as ``--gpu`` exports them. A simulated kind needs no vendor
collateral (its chain is the agent's own, trusted only through ``--trust-simulated-root``): it is
listed as not bundled and nothing is fetched for it. Nothing here is verified; a bundle that
cannot be read is malformed input (exit 10) named by its file or URL.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CairnError
from ..inputs.base import Platform
from .common import read_input_file

if TYPE_CHECKING:
    from ..evidence.models import EvidenceBundle
    from ..gpu.evidence import DeviceEvidence
    from ..snp.certs import CertCollection
    from ..tdx.quote import Quote

_VENDOR = {Platform.SNP: "AMD", Platform.TDX: "Intel"}


@dataclass
class EvidenceParts:
    """What one evidence bundle holds that collateral is needed for, and the seeds it carries."""

    name: str
    """The bundle's file, or the agent endpoint it was fetched from."""
    snp_report: bytes | None = None
    certificates: CertCollection | None = None
    """The SEV-SNP certificates sent beside the report (``tee.certificates``)."""
    tdx_quote: Quote | None = None
    tdx_collateral: bytes | None = None
    """Intel collateral embedded in the bundle (``tee.collateral``, dcap-qvl JSON)."""
    gpu_devices: list[DeviceEvidence] = field(default_factory=list)
    not_bundled: list[str] = field(default_factory=list)

    @property
    def certificates_origin(self) -> str:
        return f"tee.certificates of {self.name}"

    @property
    def collateral_origin(self) -> str:
        return f"tee.collateral of {self.name}"


def read_evidence_bundles(sources: list[str]) -> list[EvidenceParts]:
    """Each ``--evidence`` source (a file, or an agent address), taken apart."""
    return [evidence_parts(*_read(source)) for source in sources]


def _read(source: str) -> tuple[bytes, str]:
    """The bundle's bytes and its name: from an agent address (``cairn verify evidence``'s
    rules) for a fresh random nonce, else from the file ``source``."""
    from .evidence_cmd import agent_address, fetch_agent_evidence

    address = agent_address(source)
    if address is None:
        return read_input_file(Path(source), "evidence bundle"), source
    if address.assumed:
        print(f"note: {address.assumed}", file=sys.stderr)
    return fetch_agent_evidence(address.endpoint, secrets.token_bytes(32)), address.endpoint


def evidence_parts(raw: bytes, name: str) -> EvidenceParts:
    """The parts of the bundle ``raw``; MalformedInputError (naming ``name``) when the bundle,
    its report, quote, HCL report or certificates cannot be read."""
    from ..evidence.models import load_evidence

    bundle = load_evidence(raw, name)
    try:
        return _parts(bundle, name)
    except CairnError as error:
        if name not in error.message:
            error.message = f"{name}: {error.message}"
        raise


def _parts(bundle: EvidenceBundle, name: str) -> EvidenceParts:
    from ..azure.hcl import parse_hcl_report, split_bundle_report
    from ..gpu.evidence import DeviceEvidence
    from ..snp.certs import CertCollection
    from ..tdx.quote import parse_quote
    from ..x509.cert import parse_certificate

    tee = bundle.tee
    parts = EvidenceParts(name)
    if bundle.gpu is not None:
        parts.gpu_devices = [
            DeviceEvidence(device.report, tuple(device.certificates), f"{name}: gpu.devices[{i}]")
            for i, device in enumerate(bundle.gpu.devices)
        ]
    if tee.simulated:
        parts.not_bundled.append(
            f"{name}: its {tee.kind} evidence is simulated: its chain is the agent's own "
            "(trusted only with --trust-simulated-root), so it needs no "
            f"{_VENDOR[tee.platform]} collateral, and none was fetched for it"
        )
        return parts
    report, quote = tee.report, None
    if tee.claims_in_tpm_quote:  # Azure: the HCL report (then, on TDX, the TD quote)
        hcl, quote = split_bundle_report(report, tdx=tee.platform is Platform.TDX)
        report = parse_hcl_report(hcl).hardware_report
    if tee.platform is Platform.SNP:
        parts.snp_report = report
        if tee.certificates:
            chain = [parse_certificate(der) for der in tee.certificates]
            parts.certificates = CertCollection.from_certificates(chain)
    else:
        parts.tdx_quote = parse_quote(report if quote is None else quote)
        parts.tdx_collateral = tee.collateral
    return parts
