"""Assemble one evidence bundle for a verifier's nonce (blocking; run in a worker thread).

REPORT_DATA v2 (docs/spec/report-data-v2.md) commits to the nonce, the system hash, the
service-tree root and the TPM attestation key; the TPM quote carries the same nonce in
extraData. Both are produced here, under the agent's hardware lock.
"""

from __future__ import annotations

from dataclasses import dataclass

from cairn_verifier.api import (
    REPORT_DATA_VERSION,
    AgentInfo,
    Claims,
    EvidenceBundle,
    ReportDataInputs,
    ServiceClaim,
    SystemClaim,
    TpmEvidence,
    ak_digest,
    report_data,
    tee_evidence,
)

from . import __version__
from .inventory import Snapshot
from .tee.base import EvidenceProvider
from .tpm import AgentTpm, PcrBank

NONCE_BYTES = 32


@dataclass
class EvidenceSource:
    """The provider, the TPM (if any) and what it quotes."""

    provider: EvidenceProvider
    tpm: AgentTpm | None
    pcrs: tuple[int, ...]
    bank: PcrBank

    def __post_init__(self) -> None:
        self._ak_public = self.tpm.ak_public() if self.tpm is not None else None

    @property
    def ak_public(self) -> bytes | None:
        return self._ak_public

    def report_data(self, nonce: bytes, snapshot: Snapshot) -> bytes:
        return report_data(
            ReportDataInputs(
                nonce=nonce,
                system_hash=snapshot.system_hash,
                tree_root=snapshot.tree_root,
                gpu_digest=None,
                ak_digest=ak_digest(self._ak_public) if self._ak_public else None,
            ),
            REPORT_DATA_VERSION,
        )

    def collect(self, nonce: bytes, snapshot: Snapshot) -> EvidenceBundle:
        """TEE evidence over REPORT_DATA, a TPM quote over the nonce, and the claims."""
        if len(nonce) != NONCE_BYTES:
            raise ValueError("the nonce must be 32 bytes")
        tee = self.provider.get_evidence(self.report_data(nonce, snapshot))
        tpm_evidence = None
        if self.tpm is not None:
            quote = self.tpm.quote(nonce, self.pcrs, self.bank)
            tpm_evidence = TpmEvidence(
                quote=quote.attest,
                signature=quote.signature,
                ak_public=quote.ak_public,
                pcrs={quote.bank: {str(i): v for i, v in sorted(quote.pcrs.items())}},
                event_log=self.tpm.event_log(),
            )
        claims = Claims(
            nonce=nonce,
            system=SystemClaim(store_path=snapshot.system_store_path, hash=snapshot.system_hash),
            services=[
                ServiceClaim(name=s.name, store_path=s.store_path, public_key=s.public_key)
                for s in snapshot.services
            ],
            tree_root=snapshot.tree_root,
            gpu_digest=None,
            report_data_version=REPORT_DATA_VERSION,
        )
        return EvidenceBundle(
            format="cairn-evidence",
            version=1,
            tee=tee_evidence(tee.kind, tee.report, tee.certificates, tee.collateral),
            tpm=tpm_evidence,
            claims=claims,
            agent=AgentInfo(version=__version__, simulated=tee.simulated),
        )
