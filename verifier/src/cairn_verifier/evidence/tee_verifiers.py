"""The verifier of each kind of TEE evidence, and the registry the evidence pipeline uses.

SEV-SNP reports go through :func:`~cairn_verifier.snp.verify.verify_snp_report` (with the
bundle's certificates as ``--certs``), TDX quotes through
:func:`~cairn_verifier.tdx.verify.verify_tdx_quote` (with the bundle's collateral unless the
verifier supplied its own); the simulated kinds run the same pipelines under a named root
(:mod:`.simulated`). Azure's HCL report is a kind of the format that this version cannot verify.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from ..check_names import EvidenceCheck
from ..checks import CheckLog, VerificationResult
from ..errors import CairnError, ExitCode
from ..snp.certs import CertCollection
from ..snp.verify import SnpVerifyRequest, verify_snp_report
from ..tdx.collateral import TdxCollateral, load_dcap_qvl_collateral
from ..tdx.quote import parse_quote
from ..tdx.verify import TdxVerifyRequest, verify_tdx_quote
from ..x509.cert import Certificate, load_certificates, parse_certificate
from .models import (
    AzureSevSnpVtpmEvidence,
    SevSnpEvidence,
    SimulatedSevSnpEvidence,
    SimulatedTdxEvidence,
    TdxEvidence,
    TeeEvidence,
)
from .registry import Job, VerifierRegistry, entry
from .simulated import SimulatedVerifier

SnpReport = SevSnpEvidence | SimulatedSevSnpEvidence
TdxQuote = TdxEvidence | SimulatedTdxEvidence


class SnpReportVerifier:
    """An SEV-SNP report; the certificates beside it are used as ``--certs`` (the chain
    verification covers them, so nothing is left unsigned)."""

    def chain(self, evidence: SnpReport) -> list[Certificate]:
        return [parse_certificate(der) for der in evidence.certificates]

    def verify(self, evidence: SnpReport, job: Job) -> VerificationResult:
        certs = None
        if evidence.certificates:
            certs = CertCollection.from_certificates(self.chain(evidence))
        request = job.request
        snp = SnpVerifyRequest(
            at=request.at,
            policy=request.policy.snp,
            certs=certs,
            kds=request.kds,
            report_data=job.report_data,
            subject=request.subject,
            trusted_root=job.trusted_root,
        )
        return verify_snp_report(evidence.report, snp)

    def check_unsigned(self, evidence: SnpReport, log: CheckLog) -> None:
        return None


class TdxQuoteVerifier:
    """A TDX quote: its own PCK chain is verified; collateral comes from the verifier, else from
    the bundle (verified like fetched collateral), else is fetched."""

    def chain(self, evidence: TdxQuote) -> list[Certificate]:
        return load_certificates(parse_quote(evidence.report).certification.pck_cert_chain_pem)

    def verify(self, evidence: TdxQuote, job: Job) -> VerificationResult:
        request = job.request
        tdx = TdxVerifyRequest(
            at=request.at,
            policy=request.policy.tdx,
            collateral=request.tdx_collateral or _embedded_collateral(evidence),
            fetch_collateral=request.fetch_tdx_collateral,
            report_data=job.report_data,
            subject=request.subject,
            trusted_root=job.trusted_root,
        )
        return verify_tdx_quote(parse_quote(evidence.report), tdx)

    def check_unsigned(self, evidence: TdxQuote, log: CheckLog) -> None:
        """``tee.certificates`` are not used: they must be the quote's own chain, or nothing."""
        if not evidence.certificates:
            return
        try:
            quoted = [c.der for c in self.chain(evidence)]
        except CairnError as error:
            log.failed_with(EvidenceCheck.TEE_CERTIFICATES, error, component="TEE")
            return
        same = list(evidence.certificates) == quoted
        log.check(
            same,
            EvidenceCheck.TEE_CERTIFICATES,
            "TEE",
            ExitCode.MALFORMED_INPUT,
            f"the {len(quoted)} certificates beside the quote are the quote's own PCK chain"
            if same
            else "tee.certificates differ from the PCK chain inside the quote: they are not "
            "used and not trusted (only the quote's chain is verified)",
            expected=f"{len(quoted)} certificates of the quote's certification data",
            actual=f"{len(evidence.certificates)} certificates",
            hint=None
            if same
            else "send the quote's PCK chain (leaf, CA, root) or no certificates at all",
        )


def _embedded_collateral(evidence: TdxQuote) -> TdxCollateral | None:
    """Collateral the agent shipped with the quote (dcap-qvl JSON); verified like any other."""
    if evidence.collateral is None:
        return None
    collateral = load_dcap_qvl_collateral(evidence.collateral)
    return replace(collateral, source="the collateral inside the evidence bundle (dcap-qvl JSON)")


class NotVerifiable:
    """A kind the bundle format defines but this version cannot verify: ``tee-kind`` fails."""

    def __init__(self, hint: str):
        self.hint = hint

    def verify(self, evidence: TeeEvidence, job: Job) -> None:
        job.log.failed(
            EvidenceCheck.TEE_KIND,
            "TEE",
            ExitCode.CHAIN_UNTRUSTED,
            f"TEE evidence of kind {evidence.kind!r} is not verifiable by this version of Cairn",
            hint=self.hint,
        )

    def check_unsigned(self, evidence: TeeEvidence, log: CheckLog) -> None:
        return None


TEE_VERIFIERS: Final = VerifierRegistry(
    entry(SevSnpEvidence, SnpReportVerifier()),
    entry(SimulatedSevSnpEvidence, SimulatedVerifier(SnpReportVerifier())),
    entry(TdxEvidence, TdxQuoteVerifier()),
    entry(SimulatedTdxEvidence, SimulatedVerifier(TdxQuoteVerifier())),
    # On Azure the guest cannot choose REPORT_DATA: the claims will have to travel through the
    # vTPM quote instead (docs/spec/evidence-bundle.md, an open design point).
    entry(
        AzureSevSnpVtpmEvidence,
        NotVerifiable(hint="verify evidence from real SEV-SNP or TDX hardware"),
    ),
)
"""Every kind of :data:`.kinds.TeeKind` and its verifier."""
