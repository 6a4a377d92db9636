"""Simulated TEE evidence: trusted only through a root the user names, and always said so.

:class:`SimulatedVerifier` wraps the verifier of the real kind (the simulators produce the real
binary formats): it records ``tee-kind`` — passed only when one of the ``--trust-simulated-root``
certificates verifiably issued the evidence's chain — adds the SIMULATED warning, and only then
runs the real pipeline with that root in place of the vendor's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Generic, TypeVar

from ..check_names import EvidenceCheck
from ..checks import CheckLog, VerificationResult
from ..errors import CairnError, ExitCode
from ..x509.cert import Certificate
from .models import TeeEvidence
from .registry import ChainedVerifier, Job

SIMULATED_WARNING = (
    "SIMULATED EVIDENCE: the TEE evidence comes from a simulated platform whose root you "
    "trusted with --trust-simulated-root; it is NOT hardware-backed and proves nothing about "
    "confidentiality"
)
SIMULATED_UNTRUSTED_WARNING = (
    "SIMULATED EVIDENCE: the TEE evidence comes from a simulated platform ({kind}) and was NOT "
    "trusted ({why}); it is not hardware-backed and proves nothing about confidentiality"
)


def simulated_warning(kind: str, root: Certificate | None, named: int) -> str:
    """What the output says about ``*-simulated`` evidence: trusted only if a named root was."""
    if root is not None:
        return SIMULATED_WARNING
    why = (
        "no --trust-simulated-root was given"
        if named == 0
        else f"none of the {named} --trust-simulated-root certificate(s) issued its chain"
    )
    return SIMULATED_UNTRUSTED_WARNING.format(kind=kind, why=why)


def issuing_root(chain: list[Certificate], roots: tuple[Certificate, ...]) -> Certificate | None:
    """The first of ``roots`` that is in ``chain`` or verifiably issued one of its certificates."""
    for root in roots:
        for cert in chain:
            if cert.der == root.der:
                return root
            if cert.issuer.matches(root.subject):
                try:
                    cert.verify_signed_by(root)
                except CairnError:
                    continue
                return root
    return None


EvidenceT = TypeVar("EvidenceT", bound=TeeEvidence)


class SimulatedVerifier(Generic[EvidenceT]):
    """The verifier of a ``*-simulated`` kind: ``real``'s pipeline under a named root."""

    def __init__(self, real: ChainedVerifier[EvidenceT]):
        self.real = real

    def verify(self, evidence: EvidenceT, job: Job) -> VerificationResult | None:
        roots = job.request.simulated_roots
        root = self._trusted_root(evidence, job)
        job.warnings.append(simulated_warning(evidence.kind, root, len(roots)))
        if root is None:
            return None
        return self.real.verify(evidence, replace(job, trusted_root=root))

    def check_unsigned(self, evidence: EvidenceT, log: CheckLog) -> None:
        self.real.check_unsigned(evidence, log)

    def _trusted_root(self, evidence: EvidenceT, job: Job) -> Certificate | None:
        """The named root that issued the evidence's chain; records ``tee-kind`` either way."""
        log, roots = job.log, job.request.simulated_roots
        if not roots:
            log.failed(
                EvidenceCheck.TEE_KIND,
                "TEE",
                ExitCode.CHAIN_UNTRUSTED,
                "simulated evidence is not hardware-backed and no simulated root is trusted",
                hint="verify evidence from real SEV-SNP or TDX hardware; for tests only, name the "
                "agent's exported root with --trust-simulated-root",
            )
            return None
        try:
            root = issuing_root(self.real.chain(evidence), roots)
        except CairnError as error:
            log.failed_with(EvidenceCheck.TEE_KIND, error, component="TEE")
            return None
        if root is None:
            log.failed(
                EvidenceCheck.TEE_KIND,
                "TEE",
                ExitCode.CHAIN_UNTRUSTED,
                f"none of the {len(roots)} --trust-simulated-root certificate(s) "
                f"issued the {evidence.kind} evidence's chain",
                hint="pass the root the agent that produced this evidence exported",
            )
            return None
        log.passed(
            EvidenceCheck.TEE_KIND,
            "TEE",
            f"{evidence.kind}: SIMULATED, chain issued by --trust-simulated-root "
            f"'{root.display_name}' (SHA-256 {root.fingerprint_sha256.hex()[:16]}…) — "
            "NOT hardware-backed",
        )
        return root
