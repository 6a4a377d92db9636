"""What the verifier brings to an evidence verification: its nonce, policy, time, collateral
sources and the simulated roots it trusts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..policy_document import CairnPolicy
from ..snp.kds import KdsClient
from ..snp.reference_values import ReferenceValues
from ..tdx.collateral import TdxCollateral
from ..tdx.verify import CollateralSource
from ..x509.cert import Certificate


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
    ``*-simulated`` evidence may use them; real SEV-SNP/TDX evidence never does."""
    reference_values: ReferenceValues | None = None
    """The image's reference values: the system claim is checked against the ``init=`` of the
    measured command line (:mod:`.measured_system`). Their measurements are not added to the
    policy here; the CLI does that (``--reference-values``)."""
