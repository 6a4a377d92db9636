"""The interface every TEE evidence provider implements.

A provider turns the 64 bytes of REPORT_DATA the agent computed into hardware evidence. Calls
are blocking (device I/O, ioctls); the agent serialises them and runs them in a worker thread
with a timeout, so a provider never needs its own locking against the agent, only against
other processes (configfs-tsm's generation counter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cairn_verifier.api import TeeKind, tee_model

from ..errors import HardwareError

__all__ = ["EvidenceProvider", "ProviderError", "TeeEvidence", "TeeKind", "provider_simulated"]


class ProviderError(HardwareError):
    """The provider could not produce evidence (device missing, firmware error, race, …)."""

    def __init__(self, message: str, *, hint: str | None = None, retryable: bool = False):
        super().__init__(message, hint=hint)
        self.retryable = retryable


@dataclass(frozen=True)
class TeeEvidence:
    """What a provider returns: the evidence bytes in their real binary format."""

    kind: TeeKind
    report: bytes
    """Raw SEV-SNP report (1184 B), TDX quote, or Azure HCL report."""
    certificates: tuple[bytes, ...] = ()
    """DER certificates the platform supplied (e.g. the SNP extended-report certificate table)."""
    collateral: bytes | None = None
    """Collateral that travels with the evidence (TDX: Intel collateral as dcap-qvl JSON)."""

    @property
    def simulated(self) -> bool:
        """Made by a simulated platform: what the kind says (the verifier's model of it)."""
        return tee_model(self.kind).simulated


class EvidenceProvider(Protocol):
    """One source of TEE evidence."""

    name: str
    """Configuration name, e.g. "configfs-tsm", "sev-guest", "simulated-snp"."""

    @property
    def kinds(self) -> tuple[TeeKind, ...]:
        """Every kind of evidence this provider can produce (what a kind is: ``tee_model``)."""
        ...

    def get_evidence(self, report_data: bytes) -> TeeEvidence:
        """Evidence whose REPORT_DATA is ``report_data`` (exactly 64 bytes); ProviderError else."""
        ...

    def describe(self) -> str:
        """One line for logs and /healthz: what this provider is and what it talks to."""
        ...


def provider_simulated(provider: EvidenceProvider) -> bool:
    """Whether ``provider``'s evidence can be simulated, as the kinds' models say (never from its
    name): a provider that may produce a simulated kind is reported as simulated."""
    return any(tee_model(kind).simulated for kind in provider.kinds)
