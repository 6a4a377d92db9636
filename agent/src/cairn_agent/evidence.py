"""Assemble one evidence bundle for a verifier's nonce (blocking; run in a worker thread).

REPORT_DATA v2 (docs/spec/report-data-v2.md) commits to the nonce, the system hash, the
service-tree root and the TPM attestation key; the TPM quote carries the same nonce in
extraData. Both are produced here, under the agent's hardware lock. Evidence bound to a
channel key is REPORT_DATA v1 (channel binding v1 is defined on v1 only,
docs/spec/channel-binding-v1.md). Where the guest cannot choose REPORT_DATA (Azure: the TEE
kind's model says its claims travel in the TPM quote), the quote's extraData is the claims
digest instead (docs/spec/azure-vtpm-v1.md). A TDX guest's CCEL (the firmware's event log
of the RTMRs) travels as ``tee.event_log`` when the file exists, in a version 2 bundle; without
one the bundle stays version 1, which every verifier reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from pydantic import ValidationError

from cairn_verifier.api import (
    REPORT_DATA_VERSION,
    TEE_EVENT_LOG_VERSION,
    AgentInfo,
    Claims,
    EvidenceBundle,
    GpuDeviceEvidence,
    GpuEvidence,
    ReportDataInputs,
    ServiceClaim,
    SystemClaim,
    TpmEvidence,
    ak_digest,
    bind_channel,
    claims_digest,
    gpu_nonce,
    report_data,
    tee_evidence,
    tee_model,
)

from . import __version__
from .gpu.base import GpuEvidenceProvider
from .inventory import Snapshot
from .tee.base import EvidenceProvider, ProviderError
from .tpm import AgentTpm, PcrBank

NONCE_BYTES = 32
MAX_CCEL_BYTES: Final = 16 * 1024 * 1024
"""The evidence bundle's limit for ``tee.event_log`` (a real CCEL is 64 KiB)."""


def read_ccel(path: Path | None) -> bytes | None:
    """The TD's CCEL at ``path``; None when there is none (no TDX, no ACPI CCEL table, not
    readable) or it is empty; ProviderError when it exceeds the bundle's limit."""
    if path is None:
        return None
    try:
        with path.open("rb") as ccel:
            data = ccel.read(MAX_CCEL_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_CCEL_BYTES:
        raise ProviderError(
            f"the CCEL {path} is larger than {MAX_CCEL_BYTES} bytes",
            hint="tee.ccel names the ACPI CCEL table's data (/sys/firmware/acpi/tables/data/CCEL)",
        )
    return data or None


@dataclass
class EvidenceSource:
    """The provider, the TPM (if any) and what it quotes, and the GPUs (if any)."""

    provider: EvidenceProvider
    tpm: AgentTpm | None
    pcrs: tuple[int, ...]
    bank: PcrBank
    gpu: GpuEvidenceProvider | None = None
    ccel: Path | None = None
    """Where the TD's CCEL is (sent with TDX quotes when it exists)."""

    def __post_init__(self) -> None:
        self._ak_public = self.tpm.ak_public() if self.tpm is not None else None

    @property
    def ak_public(self) -> bytes | None:
        return self._ak_public

    def report_data_inputs(
        self, nonce: bytes, snapshot: Snapshot, gpu: GpuEvidence | None = None
    ) -> ReportDataInputs:
        return ReportDataInputs(
            nonce=nonce,
            system_hash=snapshot.system_hash,
            tree_root=snapshot.tree_root,
            gpu_digest=None if gpu is None else gpu.digest(),
            ak_digest=ak_digest(self._ak_public) if self._ak_public else None,
        )

    def report_data(
        self,
        nonce: bytes,
        snapshot: Snapshot,
        version: int = REPORT_DATA_VERSION,
        gpu: GpuEvidence | None = None,
    ) -> bytes:
        return report_data(self.report_data_inputs(nonce, snapshot, gpu), version)

    def gpu_evidence(self, nonce: bytes) -> GpuEvidence | None:
        """The GPUs' reports for ``gpu_nonce(nonce)`` (docs/spec/gpu-evidence-v1.md), or None
        without a GPU provider."""
        if self.gpu is None:
            return None
        devices = self.gpu.get_gpu_evidence(gpu_nonce(nonce))
        try:
            return GpuEvidence(
                devices=[
                    GpuDeviceEvidence(report=d.report, certificates=list(d.certificates))
                    for d in devices
                ]
            )
        except ValidationError as exc:
            raise ProviderError(
                f"the GPU provider {self.gpu.name!r} returned evidence that does not fit a "
                f"bundle ({exc.error_count()} problems; 1..64 devices, reports up to 64 KiB)"
            ) from exc

    def collect(
        self, nonce: bytes, snapshot: Snapshot, *, channel_key: bytes | None = None
    ) -> EvidenceBundle:
        """TEE evidence over REPORT_DATA, a TPM quote over the nonce (or, where the claims
        travel in the quote, over their digest), and the claims.

        ``channel_key`` (an X25519 public key) goes into REPORT_DATA's second half (channel
        binding v1). Only in-guest code holding its private key passes one (``state-key``); the
        HTTP API never does, so its evidence cannot be bound to a caller's key.
        """
        if len(nonce) != NONCE_BYTES:
            raise ValueError("the nonce must be 32 bytes")
        # Channel binding v1 fills REPORT_DATA v1's reserved half (v2 has no room for it).
        version: Literal[1, 2] = REPORT_DATA_VERSION if channel_key is None else 1
        gpu = self.gpu_evidence(nonce)
        value = self.report_data(nonce, snapshot, version, gpu)
        if channel_key is not None:
            value = bind_channel(value, channel_key)
        tee = self.provider.get_evidence(value)
        extra_data = nonce
        if tee_model(tee.kind).claims_in_tpm_quote:
            if self.tpm is None:
                raise ProviderError(
                    f"{tee.kind} evidence carries its claims in the TPM quote, and there is no TPM",
                    hint="enable the TPM (tpm.enabled = true): on Azure the vTPM is part of "
                    "the evidence",
                )
            extra_data = claims_digest(self.report_data_inputs(nonce, snapshot, gpu))
        tpm_evidence = None
        if self.tpm is not None:
            quote = self.tpm.quote(extra_data, self.pcrs, self.bank)
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
            gpu_digest=None if gpu is None else gpu.digest(),
            report_data_version=version,
        )
        event_log = read_ccel(self.ccel) if tee_model(tee.kind).takes_event_log else None
        return EvidenceBundle(
            format="cairn-evidence",
            version=1 if event_log is None else TEE_EVENT_LOG_VERSION,
            tee=tee_evidence(tee.kind, tee.report, tee.certificates, tee.collateral, event_log),
            tpm=tpm_evidence,
            claims=claims,
            agent=AgentInfo(version=__version__, simulated=tee.simulated),
            gpu=gpu,
        )
