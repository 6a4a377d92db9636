"""What the verifier brings to an evidence verification: its nonce, policy, time, collateral
sources and the simulated roots it trusts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ..policy_document import CairnPolicy
from ..snp.kds import KdsClient
from ..snp.reference_values import ReferenceValues
from ..tdx.collateral import TdxCollateral
from ..tdx.verify import CollateralSource
from ..x509.cert import Certificate

if TYPE_CHECKING:
    from ..gpu.revocation import RevocationSources
    from ..gpu.rim_checks import RimSources


@dataclass(frozen=True)
class EvidenceVerifyRequest:
    """The verifier's side: its nonce, policy, time and collateral sources."""

    nonce: bytes
    at: datetime
    policy: CairnPolicy = field(default_factory=CairnPolicy)
    kds: KdsClient | None = None
    fetch_tdx_collateral: CollateralSource | None = None
    subject: str = "evidence"
    tdx_collateral: TdxCollateral | None = None
    """TDX collateral supplied directly (used instead of fetching it)."""
    simulated_roots: tuple[Certificate, ...] = ()
    """Simulated roots the user trusts explicitly (``--trust-simulated-root``). Only
    ``*-simulated`` TEE evidence may use them (real SEV-SNP/TDX evidence never does), and a
    simulated GPU chain that one of them issued (the result then says SIMULATED)."""
    reference_values: ReferenceValues | None = None
    """The image's reference values: the system claim is checked against the ``init=`` of the
    measured command line (:mod:`.measured_system`). Their measurements are not added to the
    policy here; the CLI does that (``--reference-values``)."""
    channel_key: bytes | None = None
    """The X25519 channel key the guest says it bound into REPORT_DATA's second half (channel
    binding v1, ``binding/channel.py``): the binding check then expects it there, not zeros."""
    gpu_rims: RimSources | None = None
    """Where the GPUs' RIMs come from (None: nowhere; the ``measurements`` checks skip)."""
    gpu_revocation: RevocationSources | None = None
    """Where the GPU chains' OCSP responses and CRLs come from (None: nowhere)."""
