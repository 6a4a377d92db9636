"""The SEV-SNP verification pipeline: certificate, chain, signature, binding, time, revocation,
policy — each recorded as a named check.

Nothing in the report is trusted before its signature verifies: before that only the fields
needed to locate the signing certificate are read (:func:`peek_signing_fields`), and the strict
parse runs after the signature check, so a tampered report fails as "signature invalid".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..check_names import SnpCheck
from ..checks import (
    PipelineRun,
    StepMemo,
    StopError,
    Unpinned,
    VerificationResult,
    VerifyRequest,
)
from ..errors import CairnError, ChainError, CollateralUnavailableError, ExitCode, ParseError
from ..timefmt import iso_time
from ..x509.cert import Certificate, parse_certificate
from ..x509.crl import Crl, load_crl
from .appraisal import appraise_content, appraise_platform
from .certs import CertCollection
from .chain import AmdChain, check_revocation
from .default_policy import AnySnpPolicy
from .extensions import AmdExtensions
from .kds import KdsClient
from .product import ProductLine
from .report import AttestationReport, ReportPeek, SigningKey, parse_report, peek_signing_fields
from .roles import AmdCertRole, role_label
from .roots import check_ark_pinned
from .tcb import TcbVersion

CHAIN = ExitCode.CHAIN_UNTRUSTED
KIND = "SEV-SNP attestation report"


def _default_policy() -> AnySnpPolicy:
    from .policy import SnpPolicy

    return SnpPolicy()


@dataclass(frozen=True)
class SnpVerifyRequest(VerifyRequest[AnySnpPolicy]):
    """Everything one verification needs besides the report bytes.

    ``trusted_root`` is a simulated ARK: a supplied ARK byte-identical to it is accepted instead
    of AMD's pinned ARK (never AMD hardware). ``policy`` is a validated policy (the library's
    default: ``SnpPolicy()``) or the same defaults as plain values (``DefaultSnpPolicy``, what the
    CLI uses without ``--policy``).
    """

    policy: AnySnpPolicy = field(default_factory=_default_policy)
    subject: str = "report"
    certs: CertCollection | None = None
    crl: Crl | None = None
    kds: KdsClient | None = None
    product: ProductLine | None = None


SIMULATED_ROOT_SUMMARY = (
    "ARK from --trust-simulated-root: NOT an AMD key — nothing here is hardware-backed"
)
SIMULATED_ROOT_WARNING = (
    "SIMULATED: this report chains to a root you trusted with --trust-simulated-root, not to "
    "AMD's ARK; nothing in it is hardware-backed and it proves nothing about a real SEV-SNP "
    "guest"
)
UNPINNED = Unpinned(
    measurement="launch measurement",
    guest="guest",
    genuine="a genuine SEV-SNP guest on an AMD platform",
    simulated="a simulated SEV-SNP guest",
    pin="set measurements in the [snp] policy",
    report_data="REPORT_DATA",
    evidence="report",
)


VLEK_EXPIRED_HINT = (
    "VLEKs are valid for one year: use the current VLEK from the cloud provider's extended "
    "report, or verify as of a time inside its window"
)


@dataclass
class _Run(PipelineRun):
    replayed_state: ClassVar[tuple[str, ...]] = ("simulated",)

    raw: bytes
    req: SnpVerifyRequest
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
                SnpCheck.LEAF_CERTIFICATE,
                role.value,
                f"{role.value} from the supplied certificates",
            )
            return leaf, role
        if peek.signing_key_bits == int(SigningKey.VLEK):
            self.log.failed(
                SnpCheck.LEAF_CERTIFICATE,
                "VLEK",
                ExitCode.COLLATERAL_UNAVAILABLE,
                "the report is VLEK-signed and no VLEK certificate was supplied",
                hint="VLEKs are issued to the cloud provider, not served by AMD KDS: pass the "
                "certificates from the extended report (e.g. `snpguest certificates`) with --certs",
            )
            raise StopError
        if peek.signing_key_bits == int(SigningKey.NONE):
            self.log.failed(
                SnpCheck.LEAF_CERTIFICATE,
                "report",
                ExitCode.SIGNATURE_INVALID,
                "SIGNING_KEY is 7 (no key): the firmware did not sign this report",
                hint="request the report from the SNP firmware (SNP_GUEST_REQUEST), not a copy",
            )
            raise StopError
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
                SnpCheck.LEAF_CERTIFICATE,
                "VCEK",
                ExitCode.COLLATERAL_UNAVAILABLE,
                f"no VCEK supplied and {missing}",
                hint="pass --certs with the VCEK chain"
                + (", or --product to fetch it from AMD KDS" if kds is not None else ""),
            )
            raise StopError
        if peek.mask_chip_id or not any(peek.chip_id):
            self.log.failed(
                SnpCheck.LEAF_CERTIFICATE,
                "VCEK",
                ExitCode.COLLATERAL_UNAVAILABLE,
                "the report's CHIP_ID is masked (zero), so its VCEK cannot be looked up at AMD KDS",
                hint="pass the VCEK from the host's certificate table (e.g. `snpguest "
                "certificates`) with --certs",
            )
            raise StopError
        tcb = TcbVersion.decode(peek.reported_tcb, product)
        try:
            fetched = kds.fetch_vcek(product.value, peek.chip_id, tcb.components())
            cert = parse_certificate(fetched.value)
        except CairnError as error:
            self.log.failed_with(SnpCheck.LEAF_CERTIFICATE, error, component="VCEK")
            raise StopError from error
        self.log.passed(
            SnpCheck.LEAF_CERTIFICATE, "VCEK", f"VCEK at REPORTED_TCB ({tcb}) from {fetched.source}"
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
                SnpCheck.PRODUCT_LINE,
                "platform",
                ExitCode.COLLATERAL_UNAVAILABLE,
                "cannot tell the AMD product line from the certificates or the report",
                hint="pass --product Milan|Genoa|Turin",
            )
            raise StopError
        chosen, source = candidates[0]
        disagreeing = [f"{p.value} ({s})" for p, s in candidates[1:] if p is not chosen]
        if disagreeing:
            self.log.failed(
                SnpCheck.PRODUCT_LINE,
                "platform",
                CHAIN,
                f"product line {chosen.value} from {source} disagrees with "
                + ", ".join(disagreeing),
                hint="supply the certificate chain of the machine that produced the report",
            )
            raise StopError
        self.log.passed(SnpCheck.PRODUCT_LINE, "platform", f"{chosen.value} (from {source})")
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
                    SnpCheck.INTERMEDIATE_SIGNATURE,
                    role.value,
                    CHAIN,
                    f"no {role.value} supplied: a simulated ARK has no pinned {role.value}",
                    hint=f"supply the simulated {role.value} with the certificates",
                )
                raise StopError
        else:
            try:
                ark = check_ark_pinned(certs.ark if certs is not None else None, product)
            except ChainError as error:
                self.log.failed_with(SnpCheck.ARK_PINNED, error)
                raise StopError from error
            self.log.passed(
                SnpCheck.ARK_PINNED,
                "ARK",
                f"ARK-{product.value} pinned by SHA-256 {ark.fingerprint_sha256.hex()[:16]}…",
            )
        chain = AmdChain.assemble(leaf, leaf_role, product, intermediate=supplied, ark=ark)
        for link in chain.links():
            self.stop_on(link.check, link.component, link.verify, link.summary, catch=ChainError)
        return chain.certificates

    def _simulated_ark(self, certs: CertCollection | None) -> Certificate | None:
        """The supplied ARK when it is the explicitly trusted simulated root (else None)."""
        trusted = self.req.trusted_root
        supplied = certs.ark if certs is not None else None
        if trusted is None or supplied is None or supplied.der != trusted.der:
            return None
        self.simulated = True
        self.log.passed(SnpCheck.ARK_PINNED, "ARK", SIMULATED_ROOT_SUMMARY)
        self.warnings.append(SIMULATED_ROOT_WARNING)
        return supplied

    def signature(self, peek: ReportPeek, leaf: Certificate) -> None:
        public_key = leaf.public_key()
        if (
            not isinstance(public_key, ec.EllipticCurvePublicKey)
            or public_key.curve.name != "secp384r1"
        ):
            self.log.failed(
                SnpCheck.REPORT_SIGNATURE,
                "report",
                CHAIN,
                "the signing certificate does not hold an ECDSA P-384 key",
            )
            raise StopError
        signature = encode_dss_signature(peek.signature_r, peek.signature_s)
        try:
            public_key.verify(signature, peek.signed_bytes, ec.ECDSA(hashes.SHA384()))
        except InvalidSignature:
            self.log.failed(
                SnpCheck.REPORT_SIGNATURE,
                "report",
                ExitCode.SIGNATURE_INVALID,
                "ECDSA P-384/SHA-384 signature over bytes 0x000-0x29F does not verify",
                hint="the report was altered, or the certificate belongs to another chip/TCB",
            )
            raise StopError from None
        self.log.passed(
            SnpCheck.REPORT_SIGNATURE, "report", "ECDSA P-384/SHA-384 signature verifies"
        )

    def parse(self, product: ProductLine) -> AttestationReport:
        try:
            report = parse_report(self.raw, product=product)
        except ParseError as error:
            self.log.failed_with(SnpCheck.REPORT_FORMAT, error, component="report")
            raise StopError from error
        self.log.passed(
            SnpCheck.REPORT_FORMAT, "report", f"well-formed version {report.version} report"
        )
        return report

    def binding(
        self, report: AttestationReport, leaf: Certificate, role: AmdCertRole, product: ProductLine
    ) -> None:
        """Now that the report is authentic: does it belong to this certificate and product?"""
        declared = report.signing_key
        self.log.check(
            declared.name == role.value,
            SnpCheck.SIGNING_KEY_MATCHES_CERTIFICATE,
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
                SnpCheck.CPUID_MATCHES_PRODUCT,
                "report",
                CHAIN,
                f"CPUID family/model is a {cpuid_product.value} part",
                expected=product.value,
                actual=cpuid_product.value,
            )
        try:
            ext = AmdExtensions.from_certificate(leaf)
        except ParseError as error:
            self.log.failed_with(SnpCheck.CERTIFICATE_EXTENSIONS, error, component=role.value)
            raise StopError from error
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
            SnpCheck.TCB_MATCHES_CERTIFICATE,
            role.value,
            CHAIN,
            "REPORTED_TCB equals the certificate's TCB" if not differing else "; ".join(differing),
            expected=", ".join(f"{k}={v}" for k, v in cert_tcb.items()),
            actual=str(report.reported_tcb),
            hint="fetch the VCEK at the report's REPORTED_TCB",
        )
        if role is AmdCertRole.VLEK:
            self.log.skipped(
                SnpCheck.CHIP_ID_MATCHES_HWID, "VLEK", "VLEKs are not bound to a chip id"
            )
            self.claims["csp_id"] = ext.csp_id
        elif report.mask_chip_id:
            self.log.skipped(
                SnpCheck.CHIP_ID_MATCHES_HWID, "VCEK", "MASK_CHIP_ID is set: CHIP_ID is zero"
            )
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
                SnpCheck.CHIP_ID_MATCHES_HWID,
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
                expired_vlek = role_label(cert) == AmdCertRole.VLEK.value and cert.not_after < at
                self.log.failed(
                    SnpCheck.VALIDITY,
                    role,
                    CHAIN,
                    error.message,
                    expected=f"{iso_time(cert.not_before)} .. {iso_time(cert.not_after)}",
                    actual=iso_time(at),
                    hint=VLEK_EXPIRED_HINT if expired_vlek else error.hint,
                )
                continue
            self.log.passed(
                SnpCheck.VALIDITY, role, f"valid until {cert.not_after.date().isoformat()}"
            )

    def revocation(self, role: AmdCertRole, product: ProductLine, chain: list[Certificate]) -> None:
        crl, source, incomplete = self._crl(role, product)
        if crl is None:
            self._no_crl(source, incomplete)
            return
        _, intermediate, ark = chain
        try:
            check_revocation(crl, ark, intermediate, at=self.req.at)
        except ChainError as error:
            self.log.failed(SnpCheck.REVOCATION, "CRL", CHAIN, error.message, hint=error.hint)
            return
        self.log.passed(
            SnpCheck.REVOCATION,
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
                SnpCheck.REVOCATION,
                "CRL",
                ExitCode.COLLATERAL_UNAVAILABLE,
                f"no CRL available ({reason}) and {why}",
                hint=hint,
            )
            return
        self.log.skipped(
            SnpCheck.REVOCATION,
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


# Steps recorded for replay (checks.StepMemo): the product line, the chain to the ARK, its
# validity and (with a CRL supplied, or nothing to fetch) revocation are the same for every
# report signed by one VCEK or VLEK; the binding to it and the platform appraisal for every
# report of one VM (the same fields they read). Four steps per VM: room for a few hundred.
_STEPS = StepMemo(maxsize=1024)


def _der(cert: Certificate | None) -> bytes | None:
    return None if cert is None else cert.der


def _chain_key(
    request: SnpVerifyRequest, leaf: Certificate, role: AmdCertRole, peek: ReportPeek
) -> tuple[object, ...]:
    """Everything the product and chain steps read (the supplied certificates' product line is
    a function of the certificates themselves, so their bytes stand for it)."""
    certs = request.certs
    supplied: tuple[object, ...] = ()
    if certs is not None:
        supplied = tuple(
            _der(cert) for cert in (certs.ark, certs.ask, certs.asvk, certs.vcek, certs.vlek)
        )
    return (
        "chain",
        leaf.der,
        role,
        supplied,
        request.product,
        peek.product_from_cpuid,
        _der(request.trusted_root),
    )


def _platform_key(
    run: _Run, role: AmdCertRole, product: ProductLine, chain: list[Certificate]
) -> tuple[object, ...] | None:
    """Everything the validity and revocation steps read; None when revocation would consult a
    collateral source (a bundle, a cache or the network may answer differently next time; an
    offline KDS client with neither bundle nor cache answers the same, and is an anchor)."""
    request = run.req
    certs_crl = request.certs.crl if request.certs is not None else None
    crl = request.crl or certs_crl
    kds = request.kds
    if crl is None and kds is not None and not run.simulated and not kds.consults_nothing:
        return None
    return (
        "platform",
        tuple(cert.der for cert in chain),
        request.at,
        role,
        product,
        None if request.crl is None else request.crl.der,
        None if certs_crl is None else certs_crl.der,
        run.simulated,
        id(kds),
        id(request.policy),
    )


def _binding_key(
    report: AttestationReport, leaf: Certificate, role: AmdCertRole, product: ProductLine
) -> tuple[object, ...]:
    """Everything :meth:`_Run.binding` reads: the certificate and, of the report, SIGNER_INFO
    (signing key, MASK_CHIP_ID), the CPUID family and model, REPORTED_TCB and CHIP_ID."""
    return (
        "binding",
        leaf.der,
        role,
        product,
        report.signer_info.raw,
        report.cpuid_fam_id,
        report.cpuid_mod_id,
        report.reported_tcb.raw,
        report.chip_id,
    )


def _appraisal_key(
    report: AttestationReport, product: ProductLine, request: SnpVerifyRequest
) -> tuple[object, ...]:
    """Everything :func:`appraise_platform` reads: the policy and product line and, of the
    report, the guest policy, VMPL, GUEST_SVN, REPORTED_TCB, SIGNER_INFO and CHIP_ID (the
    content checks — measurement, REPORT_DATA, HOST_DATA, key digests — run for every report)."""
    return (
        "appraisal",
        id(request.policy),
        product,
        report.policy.raw,
        report.vmpl,
        report.guest_svn,
        report.reported_tcb.raw,
        report.signer_info.raw,
        report.chip_id,
    )


def verify_snp_report(raw: bytes, request: SnpVerifyRequest) -> VerificationResult:
    """Verify one SEV-SNP report; the result lists every check (never raises on bad evidence).

    The steps that depend only on the certificates, the time and the policy are recorded and
    replayed for the next report with the same inputs (``checks.StepMemo``), and so are the
    binding to the certificate and the platform appraisal, keyed by the exact report fields they
    read (a VM's reports share them); per report the signature, the parse and the content
    checks remain. Raises
    :class:`~cairn_verifier.errors.ParseError` only when ``raw`` is not a report at all (wrong
    size).
    """
    peek = peek_signing_fields(raw)
    run = _Run(raw, request)
    try:
        leaf, role = run.leaf(peek)
        product, chain = run.recorded(
            _STEPS,
            _chain_key(request, leaf, role, peek),
            (),
            lambda: _chain_step(run, leaf, role, peek),
        )
        run.signature(peek, leaf)
        report = run.parse(product)
        run.recorded(
            _STEPS,
            _binding_key(report, leaf, role, product),
            (),
            lambda: _binding_step(run, report, leaf, role, product),
        )
        run.recorded(
            _STEPS,
            _platform_key(run, role, product, chain),
            (request.policy, request.kds),
            lambda: _platform_step(run, role, product, chain),
        )
        run.recorded(
            _STEPS,
            _appraisal_key(report, product, request),
            (request.policy,),
            lambda: _appraisal_step(run, report, product),
        )
        appraise_content(report, request.policy, run.log, report_data=request.report_data)
        run.claims.update(_claims(report, product, role))
        if run.simulated:
            run.claims["simulated"] = True
        run.warnings.extend(
            UNPINNED.warnings(
                measurement_pinned=bool(request.policy.measurements),
                report_data_expected=request.report_data is not None
                or request.policy.report_data is not None,
                simulated=run.simulated,
            )
        )
    except StopError:
        pass
    return run.result(KIND, request)


def _chain_step(
    run: _Run, leaf: Certificate, role: AmdCertRole, peek: ReportPeek
) -> tuple[ProductLine, list[Certificate]]:
    product = run.product(leaf, role, peek)
    return product, run.chain(leaf, role, product)


def _binding_step(
    run: _Run, report: AttestationReport, leaf: Certificate, role: AmdCertRole, product: ProductLine
) -> bool:
    run.binding(report, leaf, role, product)
    return True


def _appraisal_step(run: _Run, report: AttestationReport, product: ProductLine) -> bool:
    appraise_platform(report, run.req.policy, run.log, product=product)
    return True


def _platform_step(
    run: _Run, role: AmdCertRole, product: ProductLine, chain: list[Certificate]
) -> bool:
    run.validity(chain)
    run.revocation(role, product, chain)
    return True


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
