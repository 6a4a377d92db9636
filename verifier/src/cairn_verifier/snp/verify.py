"""The SEV-SNP verification pipeline: certificate, chain, signature, binding, time, revocation,
policy — each recorded as a named check.

Nothing in the report is trusted before its signature verifies: before that only the fields
needed to locate the signing certificate are read (:func:`peek_signing_fields`), and the strict
parse runs after the signature check, so a tampered report fails as "signature invalid".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..checks import CheckLog, VerificationResult
from ..errors import CairnError, ChainError, CollateralUnavailableError, ExitCode, ParseError
from ..timefmt import iso_time
from ..x509.cert import Certificate, parse_certificate
from ..x509.crl import Crl, load_crl
from .appraisal import appraise_content, appraise_platform
from .certs import (
    AmdCertRole,
    AmdExtensions,
    CertCollection,
    check_ark_pinned,
    check_revocation,
    pinned_intermediate,
    verify_ark_self_signature,
    verify_intermediate,
    verify_leaf,
)
from .kds import KdsClient
from .policy import SnpPolicy
from .product import ProductLine
from .report import AttestationReport, ReportPeek, SigningKey, parse_report, peek_signing_fields
from .tcb import TcbVersion

CHAIN = ExitCode.CHAIN_UNTRUSTED
KIND = "SEV-SNP attestation report"


@dataclass(frozen=True)
class SnpVerifyRequest:
    """Everything one verification needs besides the report bytes."""

    at: datetime
    policy: SnpPolicy = field(default_factory=SnpPolicy)
    certs: CertCollection | None = None
    crl: Crl | None = None
    kds: KdsClient | None = None
    product: ProductLine | None = None
    report_data: bytes | None = None
    subject: str = "report"
    trusted_root: Certificate | None = None
    """A simulated ARK the user trusts explicitly (``--trust-simulated-root``): a supplied ARK
    byte-identical to it is accepted instead of AMD's pinned ARK. Never AMD hardware."""


SIMULATED_ROOT_SUMMARY = (
    "ARK from --trust-simulated-root: NOT an AMD key — nothing here is hardware-backed"
)
SIMULATED_ROOT_WARNING = (
    "SIMULATED: this report chains to a root you trusted with --trust-simulated-root, not to "
    "AMD's ARK; nothing in it is hardware-backed and it proves nothing about a real SEV-SNP "
    "guest"
)


class _StopError(Exception):
    """Internal: the pipeline cannot continue (the reason is already in the log)."""


@dataclass
class _Run:
    raw: bytes
    req: SnpVerifyRequest
    log: CheckLog = field(default_factory=CheckLog)
    claims: dict[str, object] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    simulated: bool = False

    # -- steps -------------------------------------------------------------------------------

    def leaf(self, peek: ReportPeek) -> tuple[Certificate, AmdCertRole]:
        """The VCEK/VLEK: from the supplied certificates, else fetched from KDS."""
        certs = self.req.certs
        if certs is not None and (certs.vcek is not None or certs.vlek is not None):
            if certs.vcek is not None and certs.vlek is not None:
                wants_vlek = peek.signing_key_bits == int(SigningKey.VLEK)
                role = AmdCertRole.VLEK if wants_vlek else AmdCertRole.VCEK
            else:
                role = AmdCertRole.VCEK if certs.vcek is not None else AmdCertRole.VLEK
            leaf = certs.vcek if role is AmdCertRole.VCEK else certs.vlek
            assert leaf is not None
            self.log.passed(
                "leaf-certificate", role.value, f"{role.value} from the supplied certificates"
            )
            return leaf, role
        if peek.signing_key_bits == int(SigningKey.VLEK):
            self.log.failed(
                "leaf-certificate",
                "VLEK",
                ExitCode.COLLATERAL_UNAVAILABLE,
                "the report is VLEK-signed and no VLEK certificate was supplied",
                hint="VLEKs are issued to the cloud provider, not served by AMD KDS: pass the "
                "certificates from the extended report (e.g. `snpguest certificates`) with --certs",
            )
            raise _StopError
        if peek.signing_key_bits == int(SigningKey.NONE):
            self.log.failed(
                "leaf-certificate",
                "report",
                ExitCode.SIGNATURE_INVALID,
                "SIGNING_KEY is 7 (no key): the firmware did not sign this report",
                hint="request the report from the SNP firmware (SNP_GUEST_REQUEST), not a copy",
            )
            raise _StopError
        return self._fetch_vcek(peek), AmdCertRole.VCEK

    def _fetch_vcek(self, peek: ReportPeek) -> Certificate:
        kds = self.req.kds
        product = self.req.product or peek.product_from_cpuid
        if kds is None or product is None:
            missing = (
                "collateral fetching is disabled"
                if kds is None
                else ("the product line is unknown (a v2 report has no CPUID)")
            )
            self.log.failed(
                "leaf-certificate",
                "VCEK",
                ExitCode.COLLATERAL_UNAVAILABLE,
                f"no VCEK supplied and {missing}",
                hint="pass --certs with the VCEK chain"
                + (", or --product to fetch it from AMD KDS" if kds is not None else ""),
            )
            raise _StopError
        if peek.mask_chip_id or not any(peek.chip_id):
            self.log.failed(
                "leaf-certificate",
                "VCEK",
                ExitCode.COLLATERAL_UNAVAILABLE,
                "the report's CHIP_ID is masked (zero), so its VCEK cannot be looked up at AMD KDS",
                hint="pass the VCEK from the host's certificate table (e.g. `snpguest "
                "certificates`) with --certs",
            )
            raise _StopError
        tcb = TcbVersion.decode(peek.reported_tcb, product)
        try:
            fetched = kds.fetch_vcek(product.value, peek.chip_id, tcb.components())
            cert = parse_certificate(fetched.value)
        except CairnError as error:
            self.log.failed_with("leaf-certificate", error, component="VCEK")
            raise _StopError from error
        self.log.passed(
            "leaf-certificate", "VCEK", f"VCEK at REPORTED_TCB ({tcb}) from {fetched.source}"
        )
        return cert

    def product(self, leaf: Certificate, role: AmdCertRole, peek: ReportPeek) -> ProductLine:
        """The product line from the certificate chain, cross-checked with --product."""
        candidates: list[tuple[ProductLine, str]] = []
        certs = self.req.certs
        if certs is not None and certs.product is not None:
            candidates.append((certs.product, "the supplied certificate chain"))
        try:
            name = AmdExtensions.from_certificate(leaf).product_name
            candidates.append((ProductLine.parse(name), f"the {role.value} productName {name!r}"))
        except CairnError:
            pass
        if self.req.product is not None:
            candidates.append((self.req.product, "--product"))
        if not candidates and peek.product_from_cpuid is not None:
            candidates.append((peek.product_from_cpuid, "the report's CPUID fields"))
        if not candidates:
            self.log.failed(
                "product-line",
                "platform",
                ExitCode.COLLATERAL_UNAVAILABLE,
                "cannot tell the AMD product line from the certificates or the report",
                hint="pass --product Milan|Genoa|Turin",
            )
            raise _StopError
        chosen, source = candidates[0]
        disagreeing = [f"{p.value} ({s})" for p, s in candidates[1:] if p is not chosen]
        if disagreeing:
            self.log.failed(
                "product-line",
                "platform",
                CHAIN,
                f"product line {chosen.value} from {source} disagrees with "
                + ", ".join(disagreeing),
                hint="supply the certificate chain of the machine that produced the report",
            )
            raise _StopError
        self.log.passed("product-line", "platform", f"{chosen.value} (from {source})")
        return chosen

    def chain(
        self, leaf: Certificate, leaf_role: AmdCertRole, product: ProductLine
    ) -> list[Certificate]:
        """ARK pinned, then a check per link: ARK self-signed, ASK/ASVK by ARK, leaf by either."""
        certs = self.req.certs
        role = AmdCertRole.ASVK if leaf_role is AmdCertRole.VLEK else AmdCertRole.ASK
        supplied = certs.get(role) if certs is not None else None
        ark = self._simulated_ark(certs)
        if ark is not None:
            if supplied is None:
                self.log.failed(
                    "intermediate-signature",
                    role.value,
                    CHAIN,
                    f"no {role.value} supplied: a simulated ARK has no pinned {role.value}",
                    hint=f"supply the simulated {role.value} with the certificates",
                )
                raise _StopError
        else:
            try:
                ark = check_ark_pinned(certs.ark if certs is not None else None, product)
            except ChainError as error:
                self.log.failed_with("ark-pinned", error)
                raise _StopError from error
            self.log.passed(
                "ark-pinned",
                "ARK",
                f"ARK-{product.value} pinned by SHA-256 {ark.fingerprint_sha256.hex()[:16]}…",
            )
        intermediate = supplied or pinned_intermediate(product, role)
        origin = "supplied" if supplied is not None else "pinned"
        links: list[tuple[str, str, Callable[[], object], str]] = [
            (
                "ark-self-signature",
                "ARK",
                lambda: verify_ark_self_signature(ark),
                f"ARK-{product.value} is self-signed (RSA-PSS SHA-384)",
            ),
            (
                "intermediate-signature",
                role.value,
                lambda: verify_intermediate(intermediate, ark, product),
                f"{origin} {intermediate.display_name} signed by the ARK",
            ),
            (
                "leaf-signature",
                leaf_role.value,
                lambda: verify_leaf(leaf, intermediate),
                f"{leaf.display_name} signed by {intermediate.display_name}",
            ),
        ]
        for name, component, verify_link, summary in links:
            try:
                verify_link()
            except ChainError as error:
                self.log.failed_with(name, error, component=component)
                raise _StopError from error
            self.log.passed(name, component, summary)
        return [leaf, intermediate, ark]

    def _simulated_ark(self, certs: CertCollection | None) -> Certificate | None:
        """The supplied ARK when it is the explicitly trusted simulated root (else None)."""
        trusted = self.req.trusted_root
        supplied = certs.ark if certs is not None else None
        if trusted is None or supplied is None or supplied.der != trusted.der:
            return None
        self.simulated = True
        self.log.passed("ark-pinned", "ARK", SIMULATED_ROOT_SUMMARY)
        self.warnings.append(SIMULATED_ROOT_WARNING)
        return supplied

    def signature(self, peek: ReportPeek, leaf: Certificate) -> None:
        public_key = leaf.public_key()
        if (
            not isinstance(public_key, ec.EllipticCurvePublicKey)
            or public_key.curve.name != "secp384r1"
        ):
            self.log.failed(
                "report-signature",
                "report",
                CHAIN,
                "the signing certificate does not hold an ECDSA P-384 key",
            )
            raise _StopError
        signature = encode_dss_signature(peek.signature_r, peek.signature_s)
        try:
            public_key.verify(signature, peek.signed_bytes, ec.ECDSA(hashes.SHA384()))
        except InvalidSignature:
            self.log.failed(
                "report-signature",
                "report",
                ExitCode.SIGNATURE_INVALID,
                "ECDSA P-384/SHA-384 signature over bytes 0x000-0x29F does not verify",
                hint="the report was altered, or the certificate belongs to another chip/TCB",
            )
            raise _StopError from None
        self.log.passed("report-signature", "report", "ECDSA P-384/SHA-384 signature verifies")

    def parse(self, product: ProductLine) -> AttestationReport:
        try:
            report = parse_report(self.raw, product=product)
        except ParseError as error:
            self.log.failed_with("report-format", error, component="report")
            raise _StopError from error
        self.log.passed("report-format", "report", f"well-formed version {report.version} report")
        return report

    def binding(
        self, report: AttestationReport, leaf: Certificate, role: AmdCertRole, product: ProductLine
    ) -> None:
        """Now that the report is authentic: does it belong to this certificate and product?"""
        declared = report.signing_key
        self.log.check(
            declared.name == role.value,
            "signing-key-matches-certificate",
            "report",
            CHAIN,
            f"SIGNING_KEY field says {declared.name}, verified with a {role.value}",
            expected=role.value,
            actual=declared.name,
            hint="the report claims a different signing key than the certificate used",
        )
        cpuid_product = report.product_from_cpuid
        if cpuid_product is not None:
            self.log.check(
                cpuid_product is product,
                "cpuid-matches-product",
                "report",
                CHAIN,
                f"CPUID family/model is a {cpuid_product.value} part",
                expected=product.value,
                actual=cpuid_product.value,
            )
        try:
            ext = AmdExtensions.from_certificate(leaf)
        except ParseError as error:
            self.log.failed_with("certificate-extensions", error, component=role.value)
            raise _StopError from error
        cert_tcb = ext.tcb_components()
        reported = report.reported_tcb.components()
        differing = [
            f"{name}: report {reported.get(name)} != certificate {value}"
            for name, value in cert_tcb.items()
            if reported.get(name) != value
        ]
        spls = (ext.spl_4, ext.spl_5, ext.spl_6, ext.spl_7)
        if product is not ProductLine.TURIN and all(v is not None for v in spls):
            reserved = report.reported_tcb.reserved
            if tuple(reserved) != spls:
                differing.append(f"spl4-7: report {list(reserved)} != certificate {list(spls)}")
        self.log.check(
            not differing,
            "tcb-matches-certificate",
            role.value,
            CHAIN,
            "REPORTED_TCB equals the certificate's TCB" if not differing else "; ".join(differing),
            expected=", ".join(f"{k}={v}" for k, v in cert_tcb.items()),
            actual=str(report.reported_tcb),
            hint="fetch the VCEK at the report's REPORTED_TCB",
        )
        if role is AmdCertRole.VLEK:
            self.log.skipped("chip-id-matches-hwid", "VLEK", "VLEKs are not bound to a chip id")
            self.claims["csp_id"] = ext.csp_id
        elif report.mask_chip_id:
            self.log.skipped("chip-id-matches-hwid", "VCEK", "MASK_CHIP_ID is set: CHIP_ID is zero")
        else:
            hwid = ext.hwid or b""
            width = len(hwid)
            ok = (
                width in (8, 64)
                and report.chip_id[:width] == hwid
                and not any(report.chip_id[width:])
            )
            self.log.check(
                ok,
                "chip-id-matches-hwid",
                "VCEK",
                CHAIN,
                "CHIP_ID equals the VCEK's hwID",
                expected=hwid.hex(),
                actual=report.chip_id.hex(),
                hint="this VCEK belongs to another chip: fetch the VCEK for this report's CHIP_ID",
            )

    def validity(self, chain: list[Certificate]) -> None:
        at = self.req.at
        for cert in chain:
            role = cert.subject.common_name or "certificate"
            try:
                cert.check_validity(at, role)
            except ChainError as error:
                self.log.failed(
                    "validity",
                    role,
                    CHAIN,
                    error.message,
                    expected=f"{iso_time(cert.not_before)} .. {iso_time(cert.not_after)}",
                    actual=iso_time(at),
                    hint=error.hint,
                )
                continue
            self.log.passed("validity", role, f"valid until {cert.not_after.date().isoformat()}")

    def revocation(self, role: AmdCertRole, product: ProductLine, chain: list[Certificate]) -> None:
        crl, source, incomplete = self._crl(role, product)
        if crl is None:
            self._no_crl(source, incomplete)
            return
        _, intermediate, ark = chain
        try:
            check_revocation(crl, ark, intermediate, at=self.req.at)
        except ChainError as error:
            self.log.failed("revocation", "CRL", CHAIN, error.message, hint=error.hint)
            return
        self.log.passed(
            "revocation",
            "CRL",
            f"{intermediate.subject.common_name} not revoked (CRL from {source}, next update "
            f"{iso_time(crl.next_update) if crl.next_update else 'unspecified'})",
        )

    def _no_crl(self, reason: str, incomplete: bool) -> None:
        """No CRL: skipped when there was no collateral source at all; a failure when the
        policy requires one, or when supplied collateral lacks it (unless the policy allows)."""
        policy = self.req.policy
        allowed = incomplete and policy.allow_collateral_without_crl
        if policy.require_crl or (incomplete and not allowed):
            why = (
                "the policy requires one"
                if policy.require_crl
                else "supplied collateral must carry the CRL"
            )
            hint = (
                "add the CRL to the collateral (`cairn collateral export` includes it), pass "
                "--crl, or set allow_collateral_without_crl = true in [snp] to accept it"
                if incomplete
                else "go online, or pass the CRL (--crl or a `cairn collateral export` bundle)"
            )
            self.log.failed(
                "revocation",
                "CRL",
                ExitCode.COLLATERAL_UNAVAILABLE,
                f"no CRL available ({reason}) and {why}",
                hint=hint,
            )
            return
        self.log.skipped(
            "revocation",
            "CRL",
            f"not checked: {reason}"
            + (" (accepted: allow_collateral_without_crl = true)" if allowed else ""),
            hint="set require_crl = true in the policy to make this fatal",
        )

    def _crl(self, role: AmdCertRole, product: ProductLine) -> tuple[Crl | None, str, bool]:
        """(CRL, where it came from or why there is none, whether supplied collateral lacks it)."""
        if self.req.crl is not None:
            return self.req.crl, "--crl", False
        if self.req.certs is not None and self.req.certs.crl is not None:
            return self.req.certs.crl, "--certs", False
        if self.simulated:
            return None, "AMD's CRLs do not cover a simulated ARK and none was supplied", False
        kds = self.req.kds
        if kds is None:
            return None, "no CRL supplied and fetching is disabled", False
        try:
            fetched = kds.fetch_crl(product.value, "vlek" if role is AmdCertRole.VLEK else "vcek")
        except CollateralUnavailableError as error:
            if kds.bundle is not None:
                return None, f"the supplied collateral bundle lacks it: {error.message}", True
            return None, error.message, False
        try:
            return load_crl(fetched.value), fetched.source, False
        except ParseError as error:
            return None, f"the CRL from {fetched.source} is malformed: {error.message}", True


def verify_snp_report(raw: bytes, request: SnpVerifyRequest) -> VerificationResult:
    """Verify one SEV-SNP report; the result lists every check (never raises on bad evidence).

    Raises :class:`~cairn_verifier.errors.ParseError` only when ``raw`` is not a report at all
    (wrong size).
    """
    peek = peek_signing_fields(raw)
    run = _Run(raw, request)
    try:
        leaf, role = run.leaf(peek)
        product = run.product(leaf, role, peek)
        chain = run.chain(leaf, role, product)
        run.signature(peek, leaf)
        report = run.parse(product)
        run.binding(report, leaf, role, product)
        run.validity(chain)
        run.revocation(role, product, chain)
        appraise_platform(report, request.policy, run.log, product=product)
        appraise_content(report, request.policy, run.log, report_data=request.report_data)
        run.claims.update(_claims(report, product, role))
        if run.simulated:
            run.claims["simulated"] = True
        run.warnings.extend(
            unpinned_warnings(request.policy, request.report_data, simulated=run.simulated)
        )
    except _StopError:
        pass
    return VerificationResult(
        kind=KIND,
        subject=request.subject,
        verified_at=request.at,
        checks=tuple(run.log.checks),
        claims=run.claims,
        warnings=tuple(run.warnings),
    )


def unpinned_warnings(
    policy: SnpPolicy, report_data: bytes | None, *, simulated: bool = False
) -> list[str]:
    """Say plainly what a pass does not prove when the policy pins nothing about the guest."""
    warnings = []
    if not policy.measurements:
        what = (
            "a simulated SEV-SNP guest"
            if simulated
            else "a genuine SEV-SNP guest on an AMD platform"
        )
        warnings.append(
            f"no launch measurement pinned: this proves {what}, not WHICH guest "
            "(set measurements in the [snp] policy)"
        )
    if report_data is None and policy.report_data is None:
        warnings.append(
            "no REPORT_DATA expected: freshness is not proven; the report may be a replay "
            "(pass --report-data with your nonce)"
        )
    return warnings


def _claims(
    report: AttestationReport, product: ProductLine, role: AmdCertRole
) -> dict[str, object]:
    return {
        "product": product.value,
        "signing_key": role.value,
        "version": report.version,
        "vmpl": report.vmpl,
        "measurement": report.measurement.hex(),
        "report_data": report.report_data.hex(),
        "host_data": report.host_data.hex(),
        "chip_id": report.chip_id.hex(),
        "reported_tcb": report.reported_tcb.components(),
        "guest_svn": report.guest_svn,
        "debug": report.policy.debug,
    }
