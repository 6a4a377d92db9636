"""Verify a Cairn evidence bundle: claims, their REPORT_DATA binding, the TEE evidence (through the
SEV-SNP or TDX pipeline), the TPM quote bound by its AK digest, and the ``[evidence]`` policy.

Order: the claims are checked for internal consistency first (nonce, system hash, service tree),
then REPORT_DATA is recomputed from them and handed to the TEE pipeline as the expected value —
its ``report-data`` check is the binding — then the TPM quote, then policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from ..binding.report_data import ReportDataInputs, report_data
from ..binding.services import ServiceEntry, build_service_tree
from ..binding.system_hash import system_hash
from ..checks import Check, CheckLog, Outcome, VerificationResult
from ..errors import CairnError, ExitCode
from ..policy_document import CairnPolicy
from ..snp.certs import CertCollection
from ..snp.kds import KdsClient
from ..snp.reference_values import ReferenceValues
from ..snp.verify import SnpVerifyRequest, verify_snp_report
from ..tdx.collateral import TdxCollateral, load_dcap_qvl_collateral
from ..tdx.quote import parse_quote
from ..tdx.verify import CollateralSource, TdxVerifyRequest, verify_tdx_quote
from ..tpm.quote import TpmQuoteResult, ak_digest, format_pcrs, verify_tpm_quote
from ..x509.cert import Certificate, load_certificates, parse_certificate
from .measured_system import check_measured_system
from .models import EvidenceBundle
from .policy import EvidencePolicy

KIND = "Cairn evidence bundle"
CONTENT = ExitCode.CONTENT_MISMATCH


@dataclass(frozen=True)
class EvidenceVerifyRequest:
    """The verifier's side: its nonce, policy, time and collateral sources."""

    nonce: bytes
    at: datetime
    policy: CairnPolicy = field(default_factory=CairnPolicy)
    kds: KdsClient | None = None
    fetch_tdx_collateral: CollateralSource | None = None
    subject: str = "evidence"
    tdx_collateral: TdxCollateral | None = None
    """TDX collateral supplied directly (used instead of fetching it)."""
    simulated_roots: tuple[Certificate, ...] = ()
    """Simulated roots the user trusts explicitly (``--trust-simulated-root``). Only
    ``*-simulated`` evidence may use them; real SEV-SNP/TDX evidence never does."""
    reference_values: ReferenceValues | None = None
    """The image's reference values: the system claim is checked against the ``init=`` of the
    measured command line (:mod:`.measured_system`). Their measurements are not added to the
    policy here; the CLI does that (``--reference-values``)."""


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


def _check_claims(bundle: EvidenceBundle, nonce: bytes, log: CheckLog) -> bool:
    claims = bundle.claims
    fresh = log.check(
        claims.nonce == nonce,
        "nonce",
        "claims",
        CONTENT,
        "the evidence answers this verifier's nonce",
        expected=nonce.hex(),
        actual=claims.nonce.hex(),
        hint="stale or replayed evidence: request fresh evidence with a new nonce",
    )
    recomputed = system_hash(claims.system.store_path)
    log.check(
        recomputed == claims.system.hash,
        "system-hash",
        "claims",
        CONTENT,
        f"system hash matches {claims.system.store_path}",
        expected=recomputed.hex(),
        actual=claims.system.hash.hex(),
        hint="the claimed system hash was not computed from the claimed store path",
    )
    entries = [ServiceEntry(s.name, s.store_path, s.public_key) for s in claims.services]
    try:
        root = build_service_tree(entries).root
    except CairnError as error:
        log.failed_with("service-tree", error, component="claims")
        return False
    log.check(
        root == claims.tree_root,
        "service-tree",
        "claims",
        CONTENT,
        f"the {len(entries)} listed services produce the claimed tree root",
        expected=f"{root:064x}",
        actual=f"{claims.tree_root:064x}",
        hint="the service list was changed after the tree root was committed",
    )
    return fresh


def _expected_report_data(bundle: EvidenceBundle) -> bytes:
    claims = bundle.claims
    return report_data(
        ReportDataInputs(
            nonce=claims.nonce,
            system_hash=claims.system.hash,
            tree_root=claims.tree_root,
            gpu_digest=claims.gpu_digest,
            ak_digest=ak_digest(bundle.tpm.ak_public) if bundle.tpm is not None else None,
        ),
        claims.report_data_version,
    )


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


def _tee_chain(bundle: EvidenceBundle) -> list[Certificate]:
    """The certificates the TEE evidence carries (SEV-SNP: the list; TDX: the quote's chain)."""
    tee = bundle.tee
    if tee.kind == "tdx-simulated":
        return load_certificates(parse_quote(tee.report).certification.pck_cert_chain_pem)
    return [parse_certificate(c) for c in tee.certificates]


def _simulated_root(
    bundle: EvidenceBundle, request: EvidenceVerifyRequest, log: CheckLog
) -> Certificate | None:
    """The trusted simulated root for ``*-simulated`` evidence; records tee-kind either way."""
    kind = bundle.tee.kind
    if not request.simulated_roots:
        log.failed(
            "tee-kind",
            "TEE",
            ExitCode.CHAIN_UNTRUSTED,
            "simulated evidence is not hardware-backed and no simulated root is trusted",
            hint="verify evidence from real SEV-SNP or TDX hardware; for tests only, name the "
            "agent's exported root with --trust-simulated-root",
        )
        return None
    try:
        root = issuing_root(_tee_chain(bundle), request.simulated_roots)
    except CairnError as error:
        log.failed_with("tee-kind", error, component="TEE")
        return None
    if root is None:
        log.failed(
            "tee-kind",
            "TEE",
            ExitCode.CHAIN_UNTRUSTED,
            f"none of the {len(request.simulated_roots)} --trust-simulated-root certificate(s) "
            f"issued the {kind} evidence's chain",
            hint="pass the root the agent that produced this evidence exported",
        )
        return None
    log.passed(
        "tee-kind",
        "TEE",
        f"{kind}: SIMULATED, chain issued by --trust-simulated-root "
        f"'{root.display_name}' (SHA-256 {root.fingerprint_sha256.hex()[:16]}…) — "
        "NOT hardware-backed",
    )
    return root


def _embedded_tdx_collateral(bundle: EvidenceBundle) -> TdxCollateral | None:
    """Collateral the agent shipped with a TDX quote (dcap-qvl JSON); verified like any other."""
    if bundle.tee.collateral is None:
        return None
    collateral = load_dcap_qvl_collateral(bundle.tee.collateral)
    return replace(collateral, source="the collateral inside the evidence bundle (dcap-qvl JSON)")


def _verify_tee(
    bundle: EvidenceBundle,
    request: EvidenceVerifyRequest,
    report_data: bytes,
    log: CheckLog,
    trusted_root: Certificate | None,
) -> VerificationResult | None:
    tee = bundle.tee
    if tee.kind.endswith("-simulated") and trusted_root is None:
        return None
    if tee.kind in ("sev-snp", "sev-snp-simulated"):
        certs = None
        if tee.certificates:
            certs = CertCollection.from_certificates(
                [parse_certificate(c) for c in tee.certificates]
            )
        snp = SnpVerifyRequest(
            at=request.at,
            policy=request.policy.snp,
            certs=certs,
            kds=request.kds,
            report_data=report_data,
            subject=request.subject,
            trusted_root=trusted_root,
        )
        return verify_snp_report(tee.report, snp)
    if tee.kind in ("tdx", "tdx-simulated"):
        tdx = TdxVerifyRequest(
            at=request.at,
            policy=request.policy.tdx,
            collateral=request.tdx_collateral or _embedded_tdx_collateral(bundle),
            fetch_collateral=request.fetch_tdx_collateral,
            report_data=report_data,
            subject=request.subject,
            trusted_root=trusted_root,
        )
        return verify_tdx_quote(parse_quote(tee.report), tdx)
    log.failed(
        "tee-kind",
        "TEE",
        ExitCode.CHAIN_UNTRUSTED,
        f"TEE evidence of kind {tee.kind!r} is not verifiable by this version of Cairn",
        hint="verify evidence from real SEV-SNP or TDX hardware",
    )
    return None


def _verify_tpm(
    bundle: EvidenceBundle, policy: EvidencePolicy, nonce: bytes, log: CheckLog
) -> None:
    tpm = bundle.tpm
    if tpm is None:
        if policy.require_tpm:
            log.failed(
                "tpm-quote",
                "TPM quote",
                ExitCode.POLICY_REJECTED,
                "the evidence carries no TPM quote and the policy requires one",
                hint="give the VM a TPM (vTPM/swtpm) or set require_tpm = false",
            )
        else:
            log.skipped("tpm-quote", "TPM quote", "no TPM quote in the evidence (allowed)")
        return
    values: dict[tuple[str, int], bytes] = {
        (str(bank), int(index)): value
        for bank, pcrs in tpm.pcrs.items()
        for index, value in pcrs.items()
    }
    result = verify_tpm_quote(
        tpm.quote, tpm.signature, tpm.ak_public, expected_extra_data=nonce, pcr_values=values
    )
    result.record(log)
    _appraise_pcrs(policy, result, log)


def _appraise_pcrs(policy: EvidencePolicy, quote: TpmQuoteResult, log: CheckLog) -> None:
    """``[evidence.pcrs]`` against the values the verified quote covers, and nothing else.

    A value in the bundle that the quote does not select is never compared (``tpm-pcr-coverage``
    already failed on it): only the TPM's signature makes a PCR value evidence.
    """
    trusted = quote.trusted_pcr_values()
    selected = set(quote.selected)
    for bank, expected in policy.pcrs.items():
        for index, value in expected.items():
            name = f"pcr-{bank}-{index}"
            if not quote.ok:
                log.skipped(
                    name,
                    "TPM quote",
                    f"not checked: the TPM quote did not verify, so no PCR value is trusted "
                    f"(policy expects {bank}:{index} = {value.hex()})",
                )
                continue
            if (bank, index) not in selected:
                log.failed(
                    name,
                    "TPM quote",
                    ExitCode.POLICY_REJECTED,
                    f"the policy pins PCR {bank}:{index}, but the quote does not select it "
                    f"(quoted: {format_pcrs(quote.selected) or 'none'})",
                    expected=value.hex(),
                    actual="(not quoted)",
                    hint=f"the quote does not select PCR {bank}:{index}; configure the agent's "
                    f"tpm.pcrs (and tpm.bank) to quote it, or remove the pin from the policy",
                )
                continue
            actual = trusted[(bank, index)]
            log.check(
                actual == value,
                name,
                "TPM quote",
                CONTENT,
                f"PCR {bank}:{index} (covered by the quote) has the policy's value",
                expected=value.hex(),
                actual=actual.hex(),
                hint="the boot chain measured into this PCR differs from the reference",
            )


def _check_unsigned_attachments(bundle: EvidenceBundle, log: CheckLog) -> None:
    """Parts of a bundle that no verified signature covers: used only when they equal what one
    does, otherwise rejected or named as not trusted."""
    tee = bundle.tee
    if tee.kind in ("tdx", "tdx-simulated") and tee.certificates:
        try:
            quoted = [
                c.der
                for c in load_certificates(parse_quote(tee.report).certification.pck_cert_chain_pem)
            ]
        except CairnError as error:
            log.failed_with("tee-certificates", error, component="TEE")
            quoted = None
        if quoted is not None:
            same = list(tee.certificates) == quoted
            log.check(
                same,
                "tee-certificates",
                "TEE",
                ExitCode.MALFORMED_INPUT,
                f"the {len(quoted)} certificates beside the quote are the quote's own PCK chain"
                if same
                else "tee.certificates differ from the PCK chain inside the quote: they are not "
                "used and not trusted (only the quote's chain is verified)",
                expected=f"{len(quoted)} certificates of the quote's certification data",
                actual=f"{len(tee.certificates)} certificates",
                hint=None
                if same
                else "send the quote's PCK chain (leaf, CA, root) or no certificates at all",
            )
    if bundle.tpm is not None and bundle.tpm.event_log is not None:
        log.skipped(
            "tpm-event-log",
            "TPM quote",
            f"the {len(bundle.tpm.event_log)}-byte TCG event log is neither replayed nor "
            "appraised: nothing in it is trusted (PCRs are appraised from the quote only)",
        )
    if bundle.claims.gpu_digest is not None:
        log.skipped(
            "gpu-evidence",
            "claims",
            f"gpu_digest {bundle.claims.gpu_digest.hex()} is bound into REPORT_DATA, but no GPU "
            "evidence is verified: nothing about a GPU is proven",
        )


def _appraise_claims(bundle: EvidenceBundle, policy: EvidencePolicy, log: CheckLog) -> None:
    claims = bundle.claims
    if policy.system_store_paths:
        log.check(
            claims.system.store_path in policy.system_store_paths,
            "system-store-path",
            "claims",
            CONTENT,
            "the NixOS system is one the policy accepts",
            expected=" or ".join(policy.system_store_paths),
            actual=claims.system.store_path,
            hint="the VM runs another NixOS build: deploy the reference system or update policy",
        )
    if policy.system_hashes:
        log.check(
            claims.system.hash in policy.system_hashes,
            "system-hash-allowed",
            "claims",
            CONTENT,
            "the system hash is one the policy accepts",
            expected=" or ".join(h.hex() for h in policy.system_hashes),
            actual=claims.system.hash.hex(),
        )
    present = {s.name: s for s in claims.services}
    missing = [name for name in policy.required_services if name not in present]
    if policy.required_services:
        log.check(
            not missing,
            "required-services",
            "claims",
            CONTENT,
            "every required service is attested"
            if not missing
            else f"required services missing: {', '.join(missing)}",
            expected=", ".join(policy.required_services),
            actual=", ".join(sorted(present)) or "(none)",
        )
    if not policy.services:
        return
    for name, service in sorted(present.items()):
        rule = policy.services.get(name)
        if rule is None:
            if not policy.allow_unlisted_services:
                log.failed(
                    f"service-{name}",
                    "claims",
                    CONTENT,
                    f"service {name!r} is not allowed by the policy",
                    hint="list it under [evidence.services] or set allow_unlisted_services",
                )
            continue
        problems = []
        if rule.store_paths and service.store_path not in rule.store_paths:
            problems.append(f"store path {service.store_path} not allowed")
        if rule.public_keys and service.public_key not in rule.public_keys:
            problems.append(f"public key {service.public_key.hex()} not allowed")
        log.check(
            not problems,
            f"service-{name}",
            "claims",
            CONTENT,
            f"service {name!r} matches the policy" if not problems else "; ".join(problems),
            hint="the service binary or its signing key differs from the reference",
        )


def _explain_binding(check: Check, bundle: EvidenceBundle) -> Check:
    """A failed REPORT_DATA check inside evidence verification is the claims binding: say so."""
    if check.name != "report-data" or check.outcome is not Outcome.FAIL:
        return check
    ak = "the TPM attestation key" if bundle.tpm is not None else "no TPM key"
    return replace(
        check,
        summary="REPORT_DATA does not commit to these claims: the report was made for another "
        f"nonce, system hash, service-tree root, GPU digest or {ak} (REPORT_DATA v1)",
        hint="the claims or the TPM key were changed after the report was produced, or the "
        "bundle mixes evidence from two requests: request fresh evidence",
    )


def verify_evidence(bundle: EvidenceBundle, request: EvidenceVerifyRequest) -> VerificationResult:
    """Verify one evidence bundle; the result lists every check (never raises on bad evidence)."""
    log = CheckLog()
    policy = request.policy.evidence
    _check_claims(bundle, request.nonce, log)
    warnings: list[str] = []
    trusted_root: Certificate | None = None
    if bundle.tee.kind.endswith("-simulated"):
        trusted_root = _simulated_root(bundle, request, log)
        warnings.append(
            simulated_warning(bundle.tee.kind, trusted_root, len(request.simulated_roots))
        )
    tee_result = _verify_tee(bundle, request, _expected_report_data(bundle), log, trusted_root)
    claims: dict[str, object] = {}
    if tee_result is not None:
        log.checks.extend(_explain_binding(c, bundle) for c in tee_result.checks)
        claims["tee"] = dict(tee_result.claims)
        warnings.extend(tee_result.warnings)
    _verify_tpm(bundle, policy, bundle.claims.nonce, log)
    _check_unsigned_attachments(bundle, log)
    _appraise_claims(bundle, policy, log)
    system_warning = check_measured_system(
        bundle.claims.system.store_path, bundle.tee.kind, tee_result, request.reference_values, log
    )
    if system_warning is not None:
        warnings.append(system_warning)
    claims.update(
        {
            "tee_kind": bundle.tee.kind,
            "nonce": bundle.claims.nonce.hex(),
            "system": bundle.claims.system.store_path,
            "services": [s.name for s in bundle.claims.services],
            "tree_root": f"{bundle.claims.tree_root:064x}",
        }
    )
    return VerificationResult(
        kind=KIND,
        subject=request.subject,
        verified_at=request.at,
        checks=tuple(log.checks),
        claims=claims,
        warnings=tuple(warnings),
    )
