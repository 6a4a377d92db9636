"""The verifier of each kind of TEE evidence, and the registry the evidence pipeline uses.

SEV-SNP reports go through :func:`~cairn_verifier.snp.verify.verify_snp_report` (with the
bundle's certificates as ``--certs``), TDX quotes through
:func:`~cairn_verifier.tdx.verify.verify_tdx_quote` (with the bundle's collateral unless the
verifier supplied its own); the simulated kinds run the same pipelines under a named root
(:mod:`.simulated`). Azure's kinds go through :func:`~cairn_verifier.azure.verify.verify_azure`
with the bundle's TPM key, which must be HCLAkPub; their claims travel in the TPM quote, which
the evidence pipeline checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Final

from ..azure.hcl import split_bundle_report
from ..azure.verify import AzureEvidence, AzureVerifyRequest, verify_azure
from ..check_names import EvidenceCheck
from ..checks import CheckLog, VerificationResult
from ..errors import CairnError, ExitCode
from ..inputs.base import Platform
from ..snp.certs import CertCollection
from ..snp.verify import SnpVerifyRequest, verify_snp_report
from ..tdx.collateral import TdxCollateral, load_dcap_qvl_collateral
from ..tdx.event_log import read_ccel
from ..tdx.quote import parse_quote
from ..tdx.verify import TdxVerifyRequest, verify_tdx_quote
from ..x509.cert import Certificate, load_certificates, parse_certificate
from .models import (
    AzureSevSnpVtpmEvidence,
    AzureTdxVtpmEvidence,
    SevSnpEvidence,
    SimulatedAzureSevSnpVtpmEvidence,
    SimulatedAzureTdxVtpmEvidence,
    SimulatedSevSnpEvidence,
    SimulatedTdxEvidence,
    TdxEvidence,
    TeeEvidence,
)
from .registry import Job, VerifierRegistry, entry
from .simulated import SimulatedVerifier

SnpReport = SevSnpEvidence | SimulatedSevSnpEvidence
TdxQuote = TdxEvidence | SimulatedTdxEvidence
AzureVtpm = (
    AzureSevSnpVtpmEvidence
    | AzureTdxVtpmEvidence
    | SimulatedAzureSevSnpVtpmEvidence
    | SimulatedAzureTdxVtpmEvidence
)


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
            event_log=None
            if evidence.event_log is None
            else read_ccel(evidence.event_log, job.log),
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
        check_quote_chain(evidence, lambda: self.chain(evidence), log)


def check_quote_chain(
    evidence: TeeEvidence, chain: Callable[[], list[Certificate]], log: CheckLog
) -> None:
    """``tee.certificates`` beside a TDX quote are not used: they must be the quote's own
    chain (``chain``), or nothing (``tee-certificates``)."""
    if not evidence.certificates:
        return
    try:
        quoted = [c.der for c in chain()]
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


def _embedded_collateral(evidence: TeeEvidence) -> TdxCollateral | None:
    """Collateral the agent shipped with the quote (dcap-qvl JSON); verified like any other."""
    if evidence.collateral is None:
        return None
    collateral = load_dcap_qvl_collateral(evidence.collateral)
    return replace(collateral, source="the collateral inside the evidence bundle (dcap-qvl JSON)")


class AzureVtpmVerifier:
    """An Azure HCL report (and TD quote) bound to the bundle's TPM key: the Azure pipeline
    with the bundle's ``tpm.ak_public``, which must be HCLAkPub (``azure-ak``). The TPM quote
    itself, whose extraData is the claims digest, is the evidence pipeline's to check."""

    def _parts(self, evidence: AzureVtpm) -> tuple[bytes, bytes | None]:
        return split_bundle_report(evidence.report, tdx=evidence.platform is Platform.TDX)

    def chain(self, evidence: AzureVtpm) -> list[Certificate]:
        _, quote = self._parts(evidence)
        if quote is None:
            return [parse_certificate(der) for der in evidence.certificates]
        return load_certificates(parse_quote(quote).certification.pck_cert_chain_pem)

    def verify(self, evidence: AzureVtpm, job: Job) -> VerificationResult:
        hcl, td_quote = self._parts(evidence)
        certs = None
        if td_quote is None and evidence.certificates:
            certs = CertCollection.from_certificates(self.chain(evidence))
        request = job.request
        azure = AzureVerifyRequest(
            at=request.at,
            policy=request.policy,
            subject=request.subject,
            kds=request.kds,
            tdx_collateral=request.tdx_collateral or _embedded_collateral(evidence),
            fetch_tdx_collateral=request.fetch_tdx_collateral,
            trusted_root=job.trusted_root,
        )
        parts = AzureEvidence(
            hcl_report=hcl, td_quote=td_quote, ak_public=job.ak_public, certificates=certs
        )
        return verify_azure(parts, azure)

    def check_unsigned(self, evidence: AzureVtpm, log: CheckLog) -> None:
        """SEV-SNP: the certificates are the report's chain (verified); TDX: as a TDX quote's."""
        if evidence.platform is Platform.TDX:
            check_quote_chain(evidence, lambda: self.chain(evidence), log)


TEE_VERIFIERS: Final = VerifierRegistry(
    entry(SevSnpEvidence, SnpReportVerifier()),
    entry(SimulatedSevSnpEvidence, SimulatedVerifier(SnpReportVerifier())),
    entry(TdxEvidence, TdxQuoteVerifier()),
    entry(SimulatedTdxEvidence, SimulatedVerifier(TdxQuoteVerifier())),
    # On Azure the guest cannot choose REPORT_DATA: the claims travel in the vTPM quote
    # (docs/spec/azure-vtpm-v1.md).
    entry(AzureSevSnpVtpmEvidence, AzureVtpmVerifier()),
    entry(AzureTdxVtpmEvidence, AzureVtpmVerifier()),
    entry(SimulatedAzureSevSnpVtpmEvidence, SimulatedVerifier(AzureVtpmVerifier())),
    entry(SimulatedAzureTdxVtpmEvidence, SimulatedVerifier(AzureVtpmVerifier())),
)
"""Every kind of :data:`.kinds.TeeKind` and its verifier."""
