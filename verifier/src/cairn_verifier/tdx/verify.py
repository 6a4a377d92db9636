"""The TDX verification pipeline: what Intel's Quote Verification Library checks, then policy.

Order: PCK chain to the pinned Intel SGX Root CA and the validity of its certificates, QE report
signature (PCK), QE report binding of the attestation key, quote signature (attestation key),
collateral (signatures and signing chains, their validity, FMSPC/PCE-ID, windows), revocation
(Root CA CRL, PCK CRL and its issuer chain), TCB status, TD attributes, measurements. Every step
is a named check in the same :class:`~cairn_verifier.checks.CheckLog` the SEV-SNP pipeline uses.

Only a quote that is not authentic stops the pipeline. Once the quote's signatures chain to the
root, every later problem (an expired certificate, stale or incomplete collateral, a revoked
certificate, a TCB status) is recorded and the remaining checks still run, so one run lists
everything it can evaluate; the exit code is that of the first failure.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ..check_names import TdxCheck
from ..checks import (
    PipelineRun,
    StepMemo,
    StopError,
    Unpinned,
    VerificationResult,
    VerifyRequest,
)
from ..ecdsa import raw_to_der
from ..errors import CairnError, ChainError, ExitCode, ParseError
from ..memo import SuccessMemo
from ..timefmt import iso_time
from ..x509.cert import Certificate, load_certificates
from ..x509.crl import Crl, load_crl
from .appraisal import appraise_td
from .collateral import TdxCollateral
from .default_policy import AnyTdxPolicy
from .pck import SGX_EXTENSIONS_OID, SgxExtensions, pck_ca_kind
from .qe_identity import QeIdentity
from .quote import INTEL_QE_VENDOR_ID, Quote
from .signed_json import Signed, verify_signed_json
from .tcb import TcbEvaluation, check_tcb_info_matches_pck, evaluate_quote_tcb
from .tcb_info import TcbInfo, TcbStatus

if TYPE_CHECKING:
    from ..eventlog import EventLog

KIND = "Intel TDX quote"
CHAIN = ExitCode.CHAIN_UNTRUSTED
SIGNATURE = ExitCode.SIGNATURE_INVALID
INTEL_ROOT_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

CollateralSource = Callable[[bytes, str], TdxCollateral]
"""Fetches collateral for (FMSPC, PCK CA kind 'platform'|'processor')."""


@cache
def pinned_intel_root() -> Certificate:
    """Intel SGX Root CA, shipped with Cairn and pinned by its SHA-256 fingerprint."""
    # Beside this module (importlib.resources would cost every verify ~3 ms to import); the
    # fingerprint pins what is read.
    pem = Path(__file__).with_name("roots").joinpath("intel_sgx_root_ca.pem").read_bytes()
    (root,) = load_certificates(pem)
    if root.fingerprint_sha256.hex() != INTEL_ROOT_SHA256:
        raise ChainError("the packaged Intel SGX Root CA does not match its pinned fingerprint")
    return root


def _default_policy() -> AnyTdxPolicy:
    from .policy import TdxPolicy

    return TdxPolicy()


@dataclass(frozen=True)
class TdxVerifyRequest(VerifyRequest[AnyTdxPolicy]):
    """Everything one TDX verification needs besides the quote.

    ``trusted_root`` is a simulated root CA: it replaces the pinned Intel SGX Root CA everywhere
    (PCK chain, TCB signing chain, Root CA CRL). ``policy`` is a validated policy (the library's
    default: ``TdxPolicy()``) or the same defaults as plain values (``DefaultTdxPolicy``, what the
    CLI uses without ``--policy``).
    """

    policy: AnyTdxPolicy = field(default_factory=_default_policy)
    subject: str = "quote"
    collateral: TdxCollateral | None = None
    fetch_collateral: CollateralSource | None = None
    event_log: EventLog | None = None
    """The TD's event log (CCEL or dstack's), replayed against the quote's RTMRs once the quote
    is authentic (``rtmr-event-log``, :mod:`.event_log`)."""


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


# Steps recorded for replay (checks.StepMemo): everything that depends only on the PCK chain,
# the collateral given, the time and the policy is the same for every quote of one platform.
_STEPS = StepMemo(maxsize=256)

UNPINNED = Unpinned(
    measurement="MRTD",
    guest="TD",
    genuine="a genuine TD on an Intel TDX platform",
    simulated="a simulated TD",
    pin="set mr_td and rtmr0-3 in the [tdx] policy",
    report_data="REPORTDATA",
    evidence="quote",
)


@dataclass
class _Run(PipelineRun):
    replayed_state: ClassVar[tuple[str, ...]] = ("validity_checked", "stale_collateral")

    quote: Quote
    req: TdxVerifyRequest
    validity_checked: set[bytes] = field(default_factory=set)
    """DER of the certificates whose validity is already recorded (each is listed once)."""
    stale_collateral: bool = False
    """The TCB info or QE identity is outside its issueDate..nextUpdate window."""

    @property
    def root(self) -> Certificate:
        """The root of trust: the explicitly trusted simulated root, else Intel's pinned one."""
        return self.req.trusted_root or pinned_intel_root()

    @property
    def root_label(self) -> str:
        return "the --trust-simulated-root CA" if self.req.trusted_root else "the pinned root"

    # -- the quote and its PCK chain ---------------------------------------------------------

    def qe_vendor(self) -> None:
        vendor = self.quote.header.qe_vendor_id
        self.log.check(
            vendor == INTEL_QE_VENDOR_ID,
            TdxCheck.QE_VENDOR,
            "quote",
            CHAIN,
            "quote produced by Intel's quoting enclave",
            expected=INTEL_QE_VENDOR_ID.hex(),
            actual=vendor.hex(),
            hint="Cairn verifies quotes from Intel's DCAP quoting enclave only",
        )
        if vendor != INTEL_QE_VENDOR_ID:
            raise StopError

    def pck_chain(self) -> tuple[Certificate, Certificate, str]:
        """PCK leaf and CA from the quote, each link verified up to the root (stops on failure)."""
        root = self.root
        try:
            chain = load_certificates(self.quote.certification.pck_cert_chain_pem)
        except CairnError as error:
            self.log.failed_with(TdxCheck.PCK_CHAIN, error, component="PCK")
            raise StopError from None
        if len(chain) < 2:
            self.log.failed(
                TdxCheck.PCK_CHAIN,
                "PCK",
                CHAIN,
                f"the quote carries {len(chain)} certificate(s); a PCK chain needs the PCK "
                "and its CA",
            )
            raise StopError
        leaf, ca = chain[0], chain[1]
        for extra in chain[2:]:
            if extra.der != root.der:
                trusted = (
                    "the --trust-simulated-root CA"
                    if self.req.trusted_root
                    else ("Intel's pinned SGX Root CA")
                )
                self.log.failed(
                    TdxCheck.PCK_ROOT_PINNED,
                    "Intel SGX Root CA",
                    CHAIN,
                    f"the quote's root '{extra.display_name}' is not {trusted}",
                    expected=root.fingerprint_sha256.hex(),
                    actual=extra.fingerprint_sha256.hex(),
                    hint="the chain does not lead to Intel: do not trust this quote",
                )
                raise StopError
        self.log.passed(
            TdxCheck.PCK_ROOT_PINNED,
            "Intel SGX Root CA",
            SIMULATED_ROOT_SUMMARY
            if self.req.trusted_root
            else f"pinned by SHA-256 {INTEL_ROOT_SHA256[:16]}…",
        )
        kind = self.stop_on(
            TdxCheck.PCK_CA_KIND,
            "PCK CA",
            lambda: pck_ca_kind(ca.subject.common_name),
            f"issued by {ca.display_name}",
        )
        self.stop_on(
            TdxCheck.PCK_CA_SIGNATURE,
            "PCK CA",
            lambda: ca.verify_signed_by(root),
            f"{ca.display_name} signed by {root.display_name} ({self.root_label})",
        )
        self.stop_on(
            TdxCheck.PCK_LEAF_SIGNATURE,
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
                raw_to_der(cert.qe_report_signature),
                cert.qe_report.raw,
                ec.ECDSA(hashes.SHA256()),
            )
        except InvalidSignature:
            self.log.failed(
                TdxCheck.QE_REPORT_SIGNATURE,
                "QE report",
                SIGNATURE,
                "the QE report is not signed by the PCK key",
                hint="the quote was altered or its PCK chain belongs to another platform",
            )
            raise StopError from None
        self.log.passed(
            TdxCheck.QE_REPORT_SIGNATURE, "QE report", "QE report signed by the PCK key"
        )
        expected = hashlib.sha256(self.quote.attestation_key + cert.qe_auth_data).digest()
        bound = cert.qe_report.report_data == expected + bytes(32)
        self.log.check(
            bound,
            TdxCheck.QE_REPORT_BINDING,
            "QE report",
            SIGNATURE,
            "QE REPORT_DATA = SHA-256(attestation key ‖ QE auth data) ‖ 32 zero bytes",
            expected=(expected + bytes(32)).hex(),
            actual=cert.qe_report.report_data.hex(),
            hint="the attestation key is not the one the quoting enclave certified",
        )
        if not bound:
            raise StopError

    def quote_signature(self) -> None:
        raw_key = self.quote.attestation_key
        try:
            key = ec.EllipticCurvePublicNumbers(
                int.from_bytes(raw_key[:32], "big"),
                int.from_bytes(raw_key[32:], "big"),
                ec.SECP256R1(),
            ).public_key()
            key.verify(
                raw_to_der(self.quote.signature),
                self.quote.signed_bytes,
                ec.ECDSA(hashes.SHA256()),
            )
        except (InvalidSignature, ValueError):
            self.log.failed(
                TdxCheck.QUOTE_SIGNATURE,
                "quote",
                SIGNATURE,
                "ECDSA P-256 signature over header and TD report does not verify with the "
                "attestation key",
                hint="the quote (header or TD report) was altered",
            )
            raise StopError from None
        self.log.passed(TdxCheck.QUOTE_SIGNATURE, "quote", "header and TD report signed by the QE")

    def sgx_extensions(self, pck: Certificate) -> SgxExtensions:
        extension = pck.extensions.get(SGX_EXTENSIONS_OID)
        if extension is None:
            self.log.failed(
                TdxCheck.PCK_EXTENSIONS,
                "PCK",
                CHAIN,
                "the PCK certificate lacks Intel's SGX extensions",
            )
            raise StopError
        sgx = self.stop_on(
            TdxCheck.PCK_EXTENSIONS,
            "PCK",
            lambda: SgxExtensions.parse(extension.value),
            "SGX extensions decoded",
        )
        self.claims["fmspc"] = sgx.fmspc.hex()
        return sgx

    # -- collateral ---------------------------------------------------------------------------

    def collateral(self, sgx: SgxExtensions, kind: str) -> TdxCollateral:
        if self.req.collateral is not None:
            source = self.req.collateral.source or "TDX collateral"
            self.log.passed(TdxCheck.COLLATERAL, "collateral", f"supplied: {source}")
            return self.req.collateral
        fetch = self.req.fetch_collateral
        if fetch is None:
            self.log.failed(
                TdxCheck.COLLATERAL,
                "collateral",
                ExitCode.COLLATERAL_UNAVAILABLE,
                "no TDX collateral supplied and fetching is disabled",
                hint="pass --collateral (dcap-qvl JSON, PCS directory or bundle) or go online",
            )
            raise StopError
        fetched = self.stop_on(
            TdxCheck.COLLATERAL,
            "collateral",
            lambda: fetch(sgx.fmspc, kind),
            f"TCB info, QE identity and CRLs for FMSPC {sgx.fmspc.hex().upper()}",
        )
        return fetched

    def validity(self, certificates: list[Certificate], roles: tuple[str, ...]) -> None:
        """One ``validity`` check per certificate not checked yet: valid at the verification time.

        A failure is recorded and the pipeline goes on (exit 3), as QVL's
        STATUS_SGX_PCK_CERT_CHAIN_EXPIRED / dcap-qvl's CertNotValidYet reject such a quote.
        """
        at = self.req.at
        for index, cert in enumerate(certificates):
            if cert.der in self.validity_checked:
                continue
            self.validity_checked.add(cert.der)
            component = cert.subject.common_name or "certificate"
            role = roles[min(index, len(roles) - 1)]
            window = f"{iso_time(cert.not_before)} .. {iso_time(cert.not_after)}"
            try:
                cert.check_validity(at, role)
            except ChainError as error:
                self.log.failed(
                    TdxCheck.VALIDITY,
                    component,
                    CHAIN,
                    error.message,
                    expected=window,
                    actual=iso_time(at),
                    hint=error.hint,
                )
                continue
            self.log.passed(
                TdxCheck.VALIDITY, component, f"valid until {cert.not_after.date().isoformat()}"
            )

    def issuer_chain(self, name: str, what: str, pem: bytes | None) -> list[Certificate] | None:
        """A collateral issuer chain: its first certificate signed by the root, every other one
        the root itself (nothing beside it goes unverified). None, recorded, if it is not."""
        root = self.root
        chain = load_certificates(pem or b"")
        if not chain:
            self.log.failed(
                name,
                what,
                ExitCode.COLLATERAL_UNAVAILABLE,
                f"{what} has no issuer chain",
                hint="supply the issuer chain Intel serves with the document (PCS header "
                "or the dcap-qvl *_issuer_chain field)",
            )
            return None
        strangers = [c for c in chain[1:] if c.der != root.der]
        if strangers:
            self.log.failed(
                name,
                what,
                CHAIN,
                f"the {what} issuer chain holds '{strangers[0].display_name}', which is neither "
                f"its signer nor {self.root_label}",
                expected=root.fingerprint_sha256.hex(),
                actual=strangers[0].fingerprint_sha256.hex(),
                hint="use the issuer chain exactly as Intel serves it (signer, then the root)",
            )
            return None
        try:
            chain[0].verify_signed_by(root)
        except CairnError as error:
            self.log.failed_with(name, error, component=what)
            return None
        return chain

    def signed_document(
        self, name: str, signed: Signed[TcbInfo] | Signed[QeIdentity], what: str
    ) -> list[Certificate] | None:
        """The document's signature by the first certificate of its issuer chain; the chain."""
        chain = self.issuer_chain(name, what, signed.issuer_chain)
        if chain is None:
            return None
        signer = chain[0]

        def verify() -> None:
            memo = (signed.signed.body, signed.signed.signature, signer.der)
            if memo in _VERIFIED_DOCUMENTS:
                return
            public_key = signer.public_key()
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise ChainError(f"{signer.display_name} does not hold an EC key", component=what)
            verify_signed_json(signed.signed, public_key)
            _VERIFIED_DOCUMENTS.add(memo)

        try:
            verify()
        except CairnError as error:
            self.log.failed_with(name, error, component=what)
            return None
        self.log.passed(name, what, f"signed by {signer.display_name} (chain to {self.root_label})")
        return chain

    def collateral_checks(
        self, collateral: TdxCollateral, sgx: SgxExtensions
    ) -> tuple[bool, list[Certificate]]:
        """Signatures, signing-chain validity, FMSPC/PCE-ID and windows of the collateral.

        Returns whether the TCB info and QE identity are authentic and for this platform (so a
        TCB status can be computed), and the signing certificates the Root CA CRL must cover.
        A stale document is recorded and does not stop anything: its content is still Intel's.
        """
        tcb_chain = self.signed_document(
            TdxCheck.TCB_INFO_SIGNATURE, collateral.tcb_info, "TCB info"
        )
        qe_chain = self.signed_document(
            TdxCheck.QE_IDENTITY_SIGNATURE, collateral.qe_identity, "QE identity"
        )
        chains = [c for c in (tcb_chain, qe_chain) if c is not None]
        for chain in chains:
            self.validity(chain, ("collateral signing", "root CA"))
        signers = list({chain[0].der: chain[0] for chain in chains}.values())
        tcb_info = collateral.tcb_info.parsed
        qe_identity = collateral.qe_identity.parsed
        try:
            check_tcb_info_matches_pck(tcb_info, sgx)
        except CairnError as error:
            self.log.failed_with(TdxCheck.TCB_INFO_MATCHES_PCK, error, component="TCB info")
            matches = False
        else:
            self.log.passed(
                TdxCheck.TCB_INFO_MATCHES_PCK,
                "TCB info",
                f"FMSPC {sgx.fmspc.hex().upper()} and PCE-ID {sgx.pce_id.hex().upper()} match",
            )
            matches = True
        for name, what, document in (
            (TdxCheck.TCB_INFO_CURRENT, "TCB info", tcb_info),
            (TdxCheck.QE_IDENTITY_CURRENT, "QE identity", qe_identity),
        ):
            summary = (
                f"issued {iso_time(document.issue_date)}, next update "
                f"{iso_time(document.next_update)}"
            )
            try:
                document.check_current(self.req.at)
            except CairnError as error:
                self.stale_collateral = True
                self.log.failed(
                    name,
                    what,
                    error.exit_code,
                    error.message,
                    expected=f"{iso_time(document.issue_date)} .. {iso_time(document.next_update)}",
                    actual=iso_time(self.req.at),
                    hint=error.hint,
                )
            else:
                self.log.passed(name, what, summary)
        return tcb_chain is not None and qe_chain is not None and matches, signers

    def revocation(
        self,
        collateral: TdxCollateral,
        leaf: Certificate,
        ca: Certificate,
        signers: list[Certificate],
    ) -> None:
        root = self.root
        crls: list[tuple[str, str, bytes | None, Certificate, list[Certificate]]] = [
            (TdxCheck.ROOT_CA_CRL, "Root CA CRL", collateral.root_ca_crl, root, [ca, *signers]),
            (TdxCheck.PCK_CRL, "PCK CRL", collateral.pck_crl, ca, [leaf]),
        ]
        for name, component, der, issuer, subjects in crls:
            if der is None:
                self._missing_crl(name, component, collateral)
                continue
            self._check_crl(name, component, der, issuer, subjects)
        if collateral.pck_crl_issuer_chain is not None and collateral.pck_crl is not None:
            self._pck_crl_issuer_chain(collateral.pck_crl_issuer_chain, collateral.pck_crl)

    def _missing_crl(self, name: str, component: str, collateral: TdxCollateral) -> None:
        """A CRL absent from collateral that was supplied: fail closed unless the policy allows
        it, and then say out loud (a warning) that revocation was not checked."""
        policy = self.req.policy
        reason = dict(collateral.missing_crls).get(component)
        source = collateral.source or "the collateral"
        absent = f"no {component}: {reason}" if reason else f"{source} has no {component}"
        if policy.allow_collateral_without_crl and not policy.require_crl:
            self.log.skipped(
                name,
                component,
                f"not checked: {absent} (accepted: allow_collateral_without_crl = true)",
                hint="revocation of the PCK chain is unknown; supply collateral with CRLs",
            )
            self.warnings.append(
                f"{component} not checked: the supplied collateral lacks it and the policy "
                "accepts that (allow_collateral_without_crl = true), so a revoked "
                + ("PCK certificate" if name == TdxCheck.PCK_CRL else "PCK CA or signing key")
                + " would not be noticed"
            )
            return
        why = (
            "the policy requires one (require_crl)"
            if policy.require_crl
            else "revocation cannot be checked without it"
        )
        self.log.failed(
            name,
            component,
            ExitCode.COLLATERAL_UNAVAILABLE,
            f"{absent}: {why}",
            hint="supply complete collateral: fetch it from Intel PCS / a PCCS, or a "
            "`cairn collateral export` bundle, or dcap-qvl JSON with pck_crl and root_ca_crl; "
            "to accept collateral without CRLs (revocation unchecked), set "
            "allow_collateral_without_crl = true in [tdx]",
        )

    def _pck_crl_issuer_chain(self, pem: bytes, crl_der: bytes) -> None:
        """The collateral's PCK CRL issuer chain: chains to the root, valid, and it is the key
        that signed the PCK CRL (so it names the same CA as the quote)."""
        name, what = TdxCheck.PCK_CRL_ISSUER_CHAIN, "PCK CRL issuer chain"
        chain = self.issuer_chain(name, what, pem)
        if chain is None:
            return
        try:
            load_crl(crl_der).verify_signed_by(chain[0])
        except CairnError as error:
            self.log.failed(
                name,
                what,
                CHAIN,
                f"the PCK CRL is not signed by '{chain[0].display_name}' of its issuer chain: "
                f"{error.message}",
                hint="the issuer chain belongs to another CA (Platform vs Processor): use the "
                "chain served with this CRL",
            )
            return
        self.log.passed(
            name,
            what,
            f"'{chain[0].display_name}' signed the PCK CRL (chain to {self.root_label})",
        )
        self.validity(chain, ("PCK CRL issuer", "root CA"))

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
            try:
                crl.check_current(self.req.at)
            except ChainError as error:
                raise ChainError(
                    error.message,
                    component=component,
                    hint=f"use a current {component} (Intel PCS / a PCCS, or a fresh "
                    "`cairn collateral export` bundle), or verify at a time inside its "
                    "thisUpdate..nextUpdate window",
                ) from error
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

    # -- the platform: collateral, revocation, TCB status -------------------------------------

    def platform(self, leaf: Certificate, ca: Certificate, kind: str) -> None:
        """Everything about the platform an authentic quote came from; what cannot be evaluated
        is recorded as skipped with the reason, and the TD is appraised either way."""
        try:
            sgx = self.sgx_extensions(leaf)
            collateral = self.collateral(sgx, kind)
        except StopError:
            self.log.skipped(
                TdxCheck.TCB_STATUS, "TCB", "not evaluated: no usable collateral for this quote"
            )
            return
        appraisable, signers = self.collateral_checks(collateral, sgx)
        self.revocation(collateral, leaf, ca, signers)
        if not appraisable:
            self.log.skipped(
                TdxCheck.TCB_STATUS,
                "TCB",
                "not evaluated: the TCB info or QE identity is not authentic or not for this "
                "platform (see the checks above)",
            )
            return
        with contextlib.suppress(StopError):  # a failed tcb-status is already recorded
            self.tcb_status(collateral, sgx)

    # -- TCB status ---------------------------------------------------------------------------

    def tcb_status(self, collateral: TdxCollateral, sgx: SgxExtensions) -> TcbEvaluation:
        tcb_info = collateral.tcb_info.parsed
        qe_identity = collateral.qe_identity.parsed
        try:
            evaluation = evaluate_quote_tcb(tcb_info, qe_identity, sgx, self.quote)
        except CairnError as error:  # QE identity / TDX module identity mismatch
            self.log.failed(TdxCheck.TCB_STATUS, "TCB", CHAIN, error.message, hint=error.hint)
            raise StopError from error
        policy = self.req.policy
        status = evaluation.status
        accepted = status in policy.accepted_tcb_statuses
        category = CHAIN if status is TcbStatus.REVOKED else ExitCode.POLICY_REJECTED
        explanation = "; ".join(evaluation.explanation)
        self.log.check(
            accepted,
            TdxCheck.TCB_STATUS,
            "TCB",
            category,
            f"TCB status {status.value}"
            + (f": {explanation}" if explanation else "")
            + (
                " (judged with TCB info / QE identity that is not current at this time)"
                if self.stale_collateral
                else ""
            ),
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
                TdxCheck.ADVISORIES, "TCB", f"not restricted by the policy (advisories: {listed})"
            )
            return
        extra = [a for a in ids if a not in allowed]
        self.log.check(
            not extra,
            TdxCheck.ADVISORIES,
            "TCB",
            ExitCode.POLICY_REJECTED,
            "every advisory of the selected TCB level is allowed"
            if not extra
            else f"advisories not allowed by the policy: {', '.join(extra)}",
            expected=", ".join(allowed) or "none",
            actual=", ".join(ids) or "none",
            hint="read the Intel security advisories and update the platform, or allow them",
        )


def _chain_step(run: _Run) -> tuple[Certificate, Certificate, str]:
    leaf, ca, kind = run.pck_chain()
    run.validity([leaf, ca, run.root], ("PCK", "PCK CA", "root CA"))
    return leaf, ca, kind


def _platform_step(run: _Run, leaf: Certificate, ca: Certificate, kind: str) -> bool:
    run.platform(leaf, ca, kind)
    return True


def _tcb_inputs(quote: Quote) -> tuple[object, ...]:
    """Every field of the quote the platform step reads (the TCB evaluation's inputs)."""
    body, qe = quote.body, quote.certification.qe_report
    return (
        body.tee_tcb_svn,
        body.mr_signer_seam,
        body.seam_attributes,
        body.tee_tcb_svn2,
        qe.isv_svn,
        qe.mr_signer,
        qe.isv_prod_id,
        qe.misc_select,
        qe.attributes,
    )


def verify_tdx_quote(quote: Quote, request: TdxVerifyRequest) -> VerificationResult:
    """Verify one parsed TDX quote; the result lists every check (never raises on bad evidence).

    The steps that depend only on the PCK chain, the collateral given, the time and the policy
    are recorded and replayed for the next quote with the same inputs (``checks.StepMemo``);
    collateral that is fetched is never replayed (each verification asks its source).
    """
    run = _Run(quote, request)
    chain_pem = quote.certification.pck_cert_chain_pem
    root = request.trusted_root.der if request.trusted_root is not None else None
    try:
        run.qe_vendor()
        chain_key = ("chain", chain_pem, request.at, root)
        recorded = run.recorded(_STEPS, chain_key, (), lambda: _chain_step(run))
        leaf, ca, kind = recorded
        run.qe_report(leaf)
        run.quote_signature()
    except StopError:  # the quote is not authentic: nothing in it can be appraised
        if request.event_log is not None:
            run.log.skipped(
                TdxCheck.RTMR_EVENT_LOG,
                "TD event log",
                "not replayed: the quote is not authentic, so no RTMR value is trusted to "
                "compare the log with",
            )
    else:
        collateral, policy = request.collateral, request.policy
        platform_key = (
            None
            if collateral is None
            else (
                "platform",
                chain_pem,
                request.at,
                root,
                id(collateral),
                id(policy),
                *_tcb_inputs(quote),
            )
        )
        with contextlib.suppress(StopError):  # the platform step records, it never stops
            run.recorded(
                _STEPS,
                platform_key,
                (collateral, policy),
                lambda: _platform_step(run, leaf, ca, kind),
            )
        appraise_td(quote, request.policy, run.log, report_data=request.report_data)
        if request.event_log is not None:
            from .event_log import check_rtmr_event_log  # only when a log is given

            measured_boot = check_rtmr_event_log(request.event_log, quote, run.log)
            if measured_boot is not None:
                run.claims["measured_boot"] = measured_boot
        else:
            measured_boot = None
        if request.policy.kernel_sha384:
            from .event_log import appraise_kernel  # only when the policy pins a kernel

            appraise_kernel(
                request.policy.kernel_sha384,
                measured_boot,
                run.log,
                log_given=request.event_log is not None,
            )
        run.warnings.extend(
            UNPINNED.warnings(
                measurement_pinned=bool(request.policy.mr_td),
                report_data_expected=request.report_data is not None
                or request.policy.report_data is not None,
                simulated=request.trusted_root is not None,
            )
        )
    if request.trusted_root is not None:
        run.warnings.insert(0, SIMULATED_ROOT_WARNING)
        run.claims["simulated"] = True
    run.claims.update(_claims(quote))
    return run.result(KIND, request)


def _claims(quote: Quote) -> dict[str, object]:
    body = quote.body
    claims: dict[str, object] = {
        "quote_version": quote.header.version,
        "mr_td": body.mr_td.hex(),
        "rtmrs": [r.hex() for r in body.rtmrs],
        "report_data": body.report_data.hex(),
        "td_attributes": body.td_attributes.names(),
        "tee_tcb_svn": body.tee_tcb_svn.hex(),
    }
    if body.mr_service_td is not None:
        claims["mr_service_td"] = body.mr_service_td.hex()
    return claims
