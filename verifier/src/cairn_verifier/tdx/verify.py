"""The TDX verification pipeline: what Intel's Quote Verification Library checks, then policy.

Order: PCK chain to the pinned Intel SGX Root CA, QE report signature (PCK), QE report binding
of the attestation key, quote signature (attestation key), collateral (signatures, windows,
FMSPC/PCE-ID), revocation (Root CA CRL, PCK CRL), TCB status, TD attributes, measurements.
Every step is a named check in the same :class:`~cairn_verifier.checks.CheckLog` the SEV-SNP
pipeline uses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..checks import CheckLog, VerificationResult
from ..errors import CairnError, ChainError, ExitCode, ParseError
from ..memo import SuccessMemo
from ..x509.cert import Certificate, load_certificates
from ..x509.crl import Crl, load_crl
from .appraisal import appraise_td
from .collateral import QeIdentity, Signed, TcbInfo, TcbStatus, TdxCollateral, verify_signed_json
from .pck import SGX_EXTENSIONS_OID, SgxExtensions, pck_ca_kind
from .policy import TdxPolicy
from .quote import INTEL_QE_VENDOR_ID, Quote
from .tcb import TcbEvaluation, check_tcb_info_matches_pck, evaluate_quote_tcb

KIND = "Intel TDX quote"
CHAIN = ExitCode.CHAIN_UNTRUSTED
SIGNATURE = ExitCode.SIGNATURE_INVALID
INTEL_ROOT_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

CollateralSource = Callable[[bytes, str], TdxCollateral]
"""Fetches collateral for (FMSPC, PCK CA kind 'platform'|'processor')."""


@cache
def pinned_intel_root() -> Certificate:
    """Intel SGX Root CA, shipped with Cairn and pinned by its SHA-256 fingerprint."""
    pem = resources.files(__package__).joinpath("roots/intel_sgx_root_ca.pem").read_bytes()
    (root,) = load_certificates(pem)
    if root.fingerprint_sha256.hex() != INTEL_ROOT_SHA256:
        raise ChainError("the packaged Intel SGX Root CA does not match its pinned fingerprint")
    return root


@dataclass(frozen=True)
class TdxVerifyRequest:
    """Everything one TDX verification needs besides the quote."""

    at: datetime
    policy: TdxPolicy = field(default_factory=TdxPolicy)
    collateral: TdxCollateral | None = None
    fetch_collateral: CollateralSource | None = None
    report_data: bytes | None = None
    subject: str = "quote"
    trusted_root: Certificate | None = None
    """A simulated root CA the user trusts explicitly (``--trust-simulated-root``); it replaces
    the pinned Intel SGX Root CA everywhere (PCK chain, TCB signing chain, Root CA CRL)."""


SIMULATED_ROOT_SUMMARY = (
    "Root CA from --trust-simulated-root: NOT an Intel key — nothing here is hardware-backed"
)
SIMULATED_ROOT_WARNING = (
    "SIMULATED: the root of trust is the certificate you named with --trust-simulated-root, "
    "not Intel's SGX Root CA; nothing in this quote is hardware-backed and it proves nothing "
    "about a real TDX guest"
)


# Collateral documents whose signature already verified, keyed by the exact bytes involved.
_VERIFIED_DOCUMENTS = SuccessMemo(maxsize=256)


class _StopError(Exception):
    """Internal: the pipeline cannot continue (the reason is already in the log)."""


def _ecdsa_p256(raw_signature: bytes) -> bytes:
    r = int.from_bytes(raw_signature[:32], "big")
    s = int.from_bytes(raw_signature[32:64], "big")
    return encode_dss_signature(r, s)


@dataclass
class _Run:
    quote: Quote
    req: TdxVerifyRequest
    log: CheckLog = field(default_factory=CheckLog)
    claims: dict[str, object] = field(default_factory=dict)

    @property
    def root(self) -> Certificate:
        """The root of trust: the explicitly trusted simulated root, else Intel's pinned one."""
        return self.req.trusted_root or pinned_intel_root()

    @property
    def root_label(self) -> str:
        return "the --trust-simulated-root CA" if self.req.trusted_root else "the pinned root"

    def stop_on(self, name: str, component: str, step: Callable[[], object], ok: str) -> object:
        """Run one step; record a pass, or the typed failure and stop the pipeline."""
        try:
            value = step()
        except CairnError as error:
            self.log.failed_with(name, error, component=component)
            raise _StopError from error
        self.log.passed(name, component, ok)
        return value

    # -- the quote and its PCK chain ---------------------------------------------------------

    def qe_vendor(self) -> None:
        vendor = self.quote.header.qe_vendor_id
        self.log.check(
            vendor == INTEL_QE_VENDOR_ID,
            "qe-vendor",
            "quote",
            CHAIN,
            "quote produced by Intel's quoting enclave",
            expected=INTEL_QE_VENDOR_ID.hex(),
            actual=vendor.hex(),
            hint="Cairn verifies quotes from Intel's DCAP quoting enclave only",
        )
        if vendor != INTEL_QE_VENDOR_ID:
            raise _StopError

    def pck_chain(self) -> tuple[Certificate, Certificate, str]:
        root = self.root
        chain = load_certificates(self.quote.certification.pck_cert_chain_pem)
        if len(chain) < 2:
            self.log.failed(
                "pck-chain",
                "PCK",
                CHAIN,
                f"the quote carries {len(chain)} certificate(s); a PCK chain needs the PCK "
                "and its CA",
            )
            raise _StopError
        leaf, ca = chain[0], chain[1]
        for extra in chain[2:]:
            if extra.der != root.der:
                trusted = (
                    "the --trust-simulated-root CA"
                    if self.req.trusted_root
                    else ("Intel's pinned SGX Root CA")
                )
                self.log.failed(
                    "pck-root-pinned",
                    "Intel SGX Root CA",
                    CHAIN,
                    f"the quote's root '{extra.display_name}' is not {trusted}",
                    expected=root.fingerprint_sha256.hex(),
                    actual=extra.fingerprint_sha256.hex(),
                    hint="the chain does not lead to Intel: do not trust this quote",
                )
                raise _StopError
        self.log.passed(
            "pck-root-pinned",
            "Intel SGX Root CA",
            SIMULATED_ROOT_SUMMARY
            if self.req.trusted_root
            else f"pinned by SHA-256 {INTEL_ROOT_SHA256[:16]}…",
        )
        kind = self.stop_on(
            "pck-ca-kind",
            "PCK CA",
            lambda: pck_ca_kind(ca.subject.common_name),
            f"issued by {ca.display_name}",
        )
        self.stop_on(
            "pck-ca-signature",
            "PCK CA",
            lambda: ca.verify_signed_by(root),
            f"{ca.display_name} signed by {root.display_name} ({self.root_label})",
        )
        self.stop_on(
            "pck-leaf-signature",
            "PCK",
            lambda: leaf.verify_signed_by(ca),
            f"PCK certificate signed by the {kind} CA",
        )
        return leaf, ca, str(kind)

    def qe_report(self, pck: Certificate) -> None:
        cert = self.quote.certification
        key = pck.public_key()
        try:
            if not isinstance(key, ec.EllipticCurvePublicKey):
                raise InvalidSignature
            key.verify(
                _ecdsa_p256(cert.qe_report_signature),
                cert.qe_report.raw,
                ec.ECDSA(hashes.SHA256()),
            )
        except InvalidSignature:
            self.log.failed(
                "qe-report-signature",
                "QE report",
                SIGNATURE,
                "the QE report is not signed by the PCK key",
                hint="the quote was altered or its PCK chain belongs to another platform",
            )
            raise _StopError from None
        self.log.passed("qe-report-signature", "QE report", "QE report signed by the PCK key")
        expected = hashlib.sha256(self.quote.attestation_key + cert.qe_auth_data).digest()
        bound = cert.qe_report.report_data == expected + bytes(32)
        self.log.check(
            bound,
            "qe-report-binding",
            "QE report",
            SIGNATURE,
            "QE REPORT_DATA = SHA-256(attestation key ‖ QE auth data) ‖ 32 zero bytes",
            expected=(expected + bytes(32)).hex(),
            actual=cert.qe_report.report_data.hex(),
            hint="the attestation key is not the one the quoting enclave certified",
        )
        if not bound:
            raise _StopError

    def quote_signature(self) -> None:
        raw_key = self.quote.attestation_key
        try:
            key = ec.EllipticCurvePublicNumbers(
                int.from_bytes(raw_key[:32], "big"),
                int.from_bytes(raw_key[32:], "big"),
                ec.SECP256R1(),
            ).public_key()
            key.verify(
                _ecdsa_p256(self.quote.signature),
                self.quote.signed_bytes,
                ec.ECDSA(hashes.SHA256()),
            )
        except (InvalidSignature, ValueError):
            self.log.failed(
                "quote-signature",
                "quote",
                SIGNATURE,
                "ECDSA P-256 signature over header and TD report does not verify with the "
                "attestation key",
                hint="the quote (header or TD report) was altered",
            )
            raise _StopError from None
        self.log.passed("quote-signature", "quote", "header and TD report signed by the QE")

    def sgx_extensions(self, pck: Certificate) -> SgxExtensions:
        extension = pck.extensions.get(SGX_EXTENSIONS_OID)
        if extension is None:
            self.log.failed(
                "pck-extensions", "PCK", CHAIN, "the PCK certificate lacks Intel's SGX extensions"
            )
            raise _StopError
        sgx = self.stop_on(
            "pck-extensions",
            "PCK",
            lambda: SgxExtensions.parse(extension.value),
            "SGX extensions decoded",
        )
        assert isinstance(sgx, SgxExtensions)
        self.claims["fmspc"] = sgx.fmspc.hex()
        return sgx

    # -- collateral ---------------------------------------------------------------------------

    def collateral(self, sgx: SgxExtensions, kind: str) -> TdxCollateral:
        if self.req.collateral is not None:
            self.log.passed("collateral", "collateral", "supplied with --collateral")
            return self.req.collateral
        fetch = self.req.fetch_collateral
        if fetch is None:
            self.log.failed(
                "collateral",
                "collateral",
                ExitCode.COLLATERAL_UNAVAILABLE,
                "no TDX collateral supplied and fetching is disabled",
                hint="pass --collateral (dcap-qvl JSON, PCS directory or bundle) or go online",
            )
            raise _StopError
        fetched = self.stop_on(
            "collateral",
            "collateral",
            lambda: fetch(sgx.fmspc, kind),
            f"TCB info, QE identity and CRLs for FMSPC {sgx.fmspc.hex().upper()}",
        )
        assert isinstance(fetched, TdxCollateral)
        return fetched

    def signed_document(
        self, name: str, signed: Signed[TcbInfo] | Signed[QeIdentity], what: str
    ) -> Certificate:
        root = self.root
        chain = load_certificates(signed.issuer_chain or b"")
        if not chain:
            self.log.failed(name, what, ExitCode.COLLATERAL_UNAVAILABLE, f"{what} has no chain")
            raise _StopError
        signer = chain[0]

        def verify() -> None:
            signer.verify_signed_by(root)
            signer.check_validity(self.req.at, signer.display_name)
            memo = (signed.signed.body, signed.signed.signature, signer.der)
            if memo in _VERIFIED_DOCUMENTS:
                return
            public_key = signer.public_key()
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise ChainError(f"{signer.display_name} does not hold an EC key", component=what)
            verify_signed_json(signed.signed, public_key)
            _VERIFIED_DOCUMENTS.add(memo)

        self.stop_on(
            name, what, verify, f"signed by {signer.display_name} (chain to {self.root_label})"
        )
        return signer

    def collateral_checks(self, collateral: TdxCollateral, sgx: SgxExtensions) -> Certificate:
        signer = self.signed_document("tcb-info-signature", collateral.tcb_info, "TCB info")
        self.signed_document("qe-identity-signature", collateral.qe_identity, "QE identity")
        tcb_info = collateral.tcb_info.parsed
        self.stop_on(
            "tcb-info-matches-pck",
            "TCB info",
            lambda: check_tcb_info_matches_pck(tcb_info, sgx),
            f"FMSPC {sgx.fmspc.hex().upper()} and PCE-ID {sgx.pce_id.hex().upper()} match",
        )
        qe_identity = collateral.qe_identity.parsed
        self.stop_on(
            "tcb-info-current",
            "TCB info",
            lambda: tcb_info.check_current(self.req.at),
            f"issued {tcb_info.issue_date.isoformat()}, next update "
            f"{tcb_info.next_update.isoformat()}",
        )
        self.stop_on(
            "qe-identity-current",
            "QE identity",
            lambda: qe_identity.check_current(self.req.at),
            f"issued {qe_identity.issue_date.isoformat()}, next update "
            f"{qe_identity.next_update.isoformat()}",
        )
        return signer

    def revocation(
        self, collateral: TdxCollateral, leaf: Certificate, ca: Certificate, signer: Certificate
    ) -> None:
        root = self.root
        crls: list[tuple[str, str, bytes | None, Certificate, list[Certificate]]] = [
            ("root-ca-crl", "Root CA CRL", collateral.root_ca_crl, root, [ca, signer]),
            ("pck-crl", "PCK CRL", collateral.pck_crl, ca, [leaf]),
        ]
        for name, component, der, issuer, subjects in crls:
            if der is None:
                if self.req.policy.require_crl:
                    self.log.failed(
                        name,
                        component,
                        ExitCode.COLLATERAL_UNAVAILABLE,
                        f"no {component} in the collateral and the policy requires one",
                        hint="fetch complete collateral (PCS/PCCS) or a bundle with CRLs",
                    )
                else:
                    self.log.skipped(
                        name,
                        component,
                        f"not checked: the collateral has no {component}",
                        hint="supply collateral with CRLs; require_crl = true makes this fatal",
                    )
                continue
            self._check_crl(name, component, der, issuer, subjects)

    def _check_crl(
        self,
        name: str,
        component: str,
        der: bytes,
        issuer: Certificate,
        subjects: list[Certificate],
    ) -> None:
        def check() -> Crl:
            crl = load_crl(der)
            crl.verify_signed_by(issuer)
            crl.check_current(self.req.at)
            for cert in subjects:
                if crl.is_revoked(cert.serial):
                    raise ChainError(
                        f"{cert.display_name} (serial {cert.serial:x}) is revoked",
                        component=component,
                        hint="Intel revoked this certificate: do not trust this platform",
                    )
            return crl

        try:
            check()
        except (ChainError, ParseError) as error:
            self.log.failed(name, component, error.exit_code, error.message, hint=error.hint)
            return
        names = ", ".join(c.display_name for c in subjects)
        self.log.passed(name, component, f"signed by {issuer.display_name}; not revoked: {names}")

    # -- TCB status ---------------------------------------------------------------------------

    def tcb_status(self, collateral: TdxCollateral, sgx: SgxExtensions) -> TcbEvaluation:
        tcb_info = collateral.tcb_info.parsed
        qe_identity = collateral.qe_identity.parsed
        try:
            evaluation = evaluate_quote_tcb(tcb_info, qe_identity, sgx, self.quote)
        except CairnError as error:  # QE identity / TDX module identity mismatch
            self.log.failed("tcb-status", "TCB", CHAIN, error.message, hint=error.hint)
            raise _StopError from error
        policy = self.req.policy
        status = evaluation.status
        accepted = status in policy.accepted_tcb_statuses
        category = CHAIN if status is TcbStatus.REVOKED else ExitCode.POLICY_REJECTED
        explanation = "; ".join(evaluation.explanation)
        self.log.check(
            accepted,
            "tcb-status",
            "TCB",
            category,
            f"TCB status {status.value}" + (f": {explanation}" if explanation else ""),
            expected=" or ".join(s.value for s in policy.accepted_tcb_statuses),
            actual=status.value,
            hint=(evaluation.explanation[0] if evaluation.explanation else None)
            if not accepted
            else None,
        )
        self._advisories(evaluation)
        self.claims["tcb_status"] = status.value
        self.claims["advisory_ids"] = list(evaluation.advisory_ids)
        return evaluation

    def _advisories(self, evaluation: TcbEvaluation) -> None:
        allowed = self.req.policy.allowed_advisories
        ids = evaluation.advisory_ids
        if allowed is None:
            listed = ", ".join(ids) if ids else "none"
            self.log.skipped(
                "advisories", "TCB", f"not restricted by the policy (advisories: {listed})"
            )
            return
        extra = [a for a in ids if a not in allowed]
        self.log.check(
            not extra,
            "advisories",
            "TCB",
            ExitCode.POLICY_REJECTED,
            "every advisory of the selected TCB level is allowed"
            if not extra
            else f"advisories not allowed by the policy: {', '.join(extra)}",
            expected=", ".join(allowed) or "none",
            actual=", ".join(ids) or "none",
            hint="read the Intel security advisories and update the platform, or allow them",
        )


def verify_tdx_quote(quote: Quote, request: TdxVerifyRequest) -> VerificationResult:
    """Verify one parsed TDX quote; the result lists every check (never raises on bad evidence)."""
    run = _Run(quote, request)
    try:
        run.qe_vendor()
        leaf, ca, kind = run.pck_chain()
        run.qe_report(leaf)
        run.quote_signature()
        sgx = run.sgx_extensions(leaf)
        collateral = run.collateral(sgx, kind)
        signer = run.collateral_checks(collateral, sgx)
        run.revocation(collateral, leaf, ca, signer)
        run.tcb_status(collateral, sgx)
        appraise_td(quote, request.policy, run.log, report_data=request.report_data)
        warnings = unpinned_warnings(
            request.policy, request.report_data, simulated=request.trusted_root is not None
        )
    except _StopError:
        warnings = []
    if request.trusted_root is not None:
        warnings.insert(0, SIMULATED_ROOT_WARNING)
        run.claims["simulated"] = True
    run.claims.update(_claims(quote))
    return VerificationResult(
        kind=KIND,
        subject=request.subject,
        verified_at=request.at,
        checks=tuple(run.log.checks),
        claims=run.claims,
        warnings=tuple(warnings),
    )


def unpinned_warnings(
    policy: TdxPolicy, report_data: bytes | None, *, simulated: bool = False
) -> list[str]:
    """Say plainly what a pass does not prove when the policy pins nothing about the TD."""
    warnings = []
    if not policy.mr_td:
        what = "a simulated TD" if simulated else "a genuine TD on an Intel TDX platform"
        warnings.append(
            f"no MRTD pinned: this proves {what}, not WHICH TD "
            "(set mr_td and rtmr0-3 in the [tdx] policy)"
        )
    if report_data is None and policy.report_data is None:
        warnings.append(
            "no REPORTDATA expected: freshness is not proven; the quote may be a replay "
            "(pass --report-data with your nonce)"
        )
    return warnings


def _claims(quote: Quote) -> dict[str, object]:
    body = quote.body
    claims: dict[str, object] = {
        "quote_version": quote.header.version,
        "mr_td": body.mr_td.hex(),
        "rtmrs": [r.hex() for r in body.rtmrs],
        "report_data": body.report_data.hex(),
        "td_attributes": body.td_attributes.set_flags(),
        "tee_tcb_svn": body.tee_tcb_svn.hex(),
    }
    if body.mr_service_td is not None:
        claims["mr_service_td"] = body.mr_service_td.hex()
    return claims
