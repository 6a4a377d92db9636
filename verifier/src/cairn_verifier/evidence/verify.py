"""Verify a Cairn evidence bundle: claims, their REPORT_DATA binding, the TEE evidence (through the
verifier its kind has in the registry, :mod:`.tee_verifiers`), the TPM quote bound by its AK
digest, and the ``[evidence]`` policy.

Order: the claims are checked for internal consistency first (nonce, system hash, service tree),
then REPORT_DATA is recomputed from them and handed to the TEE verifier as the expected value —
its pipeline's ``report-data`` check is the binding — then the TPM quote, the parts no signature
covers, then the GPUs (:mod:`.gpu`: their evidence is the one the claims' gpu_digest names,
verified for the nonce derived from the bundle's), then policy. Where the model says the claims
travel in the TPM quote (Azure), the quote's extraData must be the claims digest instead of the
nonce. Nothing here branches on a TEE kind: a
kind is one entry in the registry and the facts its model states.
"""

from __future__ import annotations

from typing import Any

from ..binding.channel import bind_channel
from ..binding.report_data import claims_digest, report_data, report_data_v1
from ..binding.services import ServiceEntry, build_service_tree
from ..binding.system_hash import system_hash
from ..check_names import SERVICE_CHECK, EvidenceCheck, SnpCheck, TdxCheck
from ..checks import Check, CheckLog, Outcome, VerificationResult
from ..errors import CairnError, ExitCode
from ..tpm.quote import TpmQuoteResult, verify_tpm_quote
from .event_log import check_event_log
from .gpu import check_gpus
from .measured_system import check_measured_system
from .models import EvidenceBundle
from .pcrs import appraise_pcrs
from .policy import EvidencePolicy
from .registry import Job, Verifier, VerifierRegistry
from .request import EvidenceVerifyRequest
from .tee_verifiers import TEE_VERIFIERS

__all__ = ["EvidenceVerifyRequest", "verify_evidence"]

KIND = "Cairn evidence bundle"
CONTENT = ExitCode.CONTENT_MISMATCH


def _check_claims(bundle: EvidenceBundle, nonce: bytes, log: CheckLog) -> bool:
    claims = bundle.claims
    fresh = log.check(
        claims.nonce == nonce,
        EvidenceCheck.NONCE,
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
        EvidenceCheck.SYSTEM_HASH,
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
        log.failed_with(EvidenceCheck.SERVICE_TREE, error, component="claims")
        return False
    log.check(
        root == claims.tree_root,
        EvidenceCheck.SERVICE_TREE,
        "claims",
        CONTENT,
        f"the {len(entries)} listed services produce the claimed tree root",
        expected=f"{root:064x}",
        actual=f"{claims.tree_root:064x}",
        hint="the service list was changed after the tree root was committed",
    )
    return fresh


_TPM_FORMS_HINT = (
    "tpm.quote, tpm.signature and tpm.ak_public hold the TPM's TPMS_ATTEST, TPMT_SIGNATURE and "
    "TPMT_PUBLIC as the TPM marshals them: the bundle was altered or was not made by a Cairn "
    "agent; request fresh evidence"
)


def _expected_report_data(
    bundle: EvidenceBundle, log: CheckLog, channel_key: bytes | None = None
) -> bytes | None:
    """REPORT_DATA of the claims as stated, in the version they name (v1 or v2; the checks
    before and after say if they are true): the same inputs ``cairn zk prove`` commits to. With
    a channel key: REPORT_DATA v1 with the key's digest in its second half (channel binding v1,
    defined on v1 only), whatever version the claims name. None, after a failed ``tpm-quote``,
    when the attestation key cannot be read (the model has validated every other input)."""
    try:
        inputs = bundle.report_data_inputs()
        if channel_key is not None:
            return bind_channel(report_data_v1(inputs), channel_key)
        return report_data(inputs, bundle.claims.report_data_version)
    except CairnError as error:
        log.failed(
            EvidenceCheck.TPM_QUOTE,
            "TPM quote",
            error.exit_code,
            f"the attestation key cannot be read ({error.message}): REPORT_DATA commits to its "
            "digest, so neither the TEE evidence nor the quote can be checked",
            hint=error.hint or _TPM_FORMS_HINT,
        )
        return None


def _verify_tee(
    bundle: EvidenceBundle,
    tee: Verifier[Any],
    expected: bytes | None,
    *,
    request: EvidenceVerifyRequest,
    log: CheckLog,
    warnings: list[str],
) -> VerificationResult | None:
    """The TEE verifier's result; None, after a ``tee-evidence`` check that says why, when there
    is no expected REPORT_DATA or the evidence cannot be read at all."""
    if expected is None:
        log.skipped(
            EvidenceCheck.TEE_EVIDENCE,
            "TEE",
            "not verified: REPORT_DATA commits to the TPM attestation key, which cannot be read "
            "(tpm-quote), so there is no expected value to bind the evidence to",
        )
        return None
    ak_public = None if bundle.tpm is None else bundle.tpm.ak_public
    try:
        return tee.verify(bundle.tee, Job(expected, request, log, warnings, ak_public=ak_public))
    except CairnError as error:  # not a report, quote or collateral of the kind at all
        log.failed_with(EvidenceCheck.TEE_EVIDENCE, error, component="TEE")
        return None


def _quote_extra_data(bundle: EvidenceBundle) -> tuple[bytes, str]:
    """What the TPM quote's extraData must be: the claims' nonce, or, for kinds whose claims
    travel in the quote (Azure), the claims digest (docs/spec/azure-vtpm-v1.md)."""
    if bundle.tee.claims_in_tpm_quote:
        return claims_digest(bundle.report_data_inputs()), "the claims digest"
    return bundle.claims.nonce, "the nonce"


def _verify_tpm(
    bundle: EvidenceBundle, policy: EvidencePolicy, log: CheckLog, *, ak_read: bool
) -> TpmQuoteResult | None:
    """The TPM quote's checks (``ak_read``: False when ``tpm-quote`` already failed on the
    attestation key, which the quote cannot be checked without); the quote, when it was read."""
    tpm = bundle.tpm
    if tpm is None:
        if policy.require_tpm:
            log.failed(
                EvidenceCheck.TPM_QUOTE,
                "TPM quote",
                ExitCode.POLICY_REJECTED,
                "the evidence carries no TPM quote and the policy requires one",
                hint="give the VM a TPM (vTPM/swtpm) or set require_tpm = false",
            )
        else:
            log.skipped(
                EvidenceCheck.TPM_QUOTE, "TPM quote", "no TPM quote in the evidence (allowed)"
            )
        return None
    values: dict[tuple[str, int], bytes] = {
        (str(bank), int(index)): value
        for bank, pcrs in tpm.pcrs.items()
        for index, value in pcrs.items()
    }
    if not ak_read:
        return None
    extra_data, extra_data_name = _quote_extra_data(bundle)
    try:
        result = verify_tpm_quote(
            tpm.quote,
            tpm.signature,
            tpm.ak_public,
            expected_extra_data=extra_data,
            pcr_values=values,
            extra_data_name=extra_data_name,
        )
    except CairnError as error:
        log.failed(
            EvidenceCheck.TPM_QUOTE,
            "TPM quote",
            error.exit_code,
            f"the TPM quote cannot be read: {error.message}",
            hint=error.hint or _TPM_FORMS_HINT,
        )
        return None
    result.record(log)
    appraise_pcrs(policy.pcrs, result, log)
    return result


def _check_unsigned_attachments(
    bundle: EvidenceBundle,
    tee: Verifier[Any] | None,
    quote: TpmQuoteResult | None,
    log: CheckLog,
) -> dict[str, Any] | None:
    """Parts of a bundle that no verified signature covers: used only when they equal what one
    does (the event log: where it replays to quoted PCRs), otherwise rejected or named as not
    trusted. Returns the measured boot the event log proves, if any."""
    if tee is not None:
        tee.check_unsigned(bundle.tee, log)
    measured_boot = check_event_log(
        bundle.tpm.event_log if bundle.tpm is not None else None, quote, log
    )
    return measured_boot


def _appraise_claims(bundle: EvidenceBundle, policy: EvidencePolicy, log: CheckLog) -> None:
    claims = bundle.claims
    if policy.system_store_paths:
        log.check(
            claims.system.store_path in policy.system_store_paths,
            EvidenceCheck.SYSTEM_STORE_PATH,
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
            EvidenceCheck.SYSTEM_HASH_ALLOWED,
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
            EvidenceCheck.REQUIRED_SERVICES,
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
                    SERVICE_CHECK.name(name),
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
            SERVICE_CHECK.name(name),
            "claims",
            CONTENT,
            f"service {name!r} matches the policy" if not problems else "; ".join(problems),
            hint="the service binary or its signing key differs from the reference",
        )


def _explain_binding(check: Check, bundle: EvidenceBundle) -> Check:
    """A failed REPORT_DATA check inside evidence verification is the claims binding: say so."""
    binding = (SnpCheck.REPORT_DATA, TdxCheck.REPORT_DATA)
    if check.name not in binding or check.outcome is not Outcome.FAIL:
        return check
    if bundle.tee.claims_in_tpm_quote:  # REPORT_DATA binds the HCL runtime data, not the claims
        return check
    ak = "the TPM attestation key" if bundle.tpm is not None else "no TPM key"
    return check.replace(
        summary="REPORT_DATA does not commit to these claims: the report was made for another "
        f"nonce, system hash, service-tree root, GPU digest or {ak} "
        f"(REPORT_DATA v{bundle.claims.report_data_version})",
        hint="the claims or the TPM key were changed after the report was produced, or the "
        "bundle mixes evidence from two requests: request fresh evidence",
    )


def _tee_verifier(
    bundle: EvidenceBundle, registry: VerifierRegistry, log: CheckLog
) -> Verifier[Any] | None:
    try:
        return registry.verifier_for(bundle.tee.kind)
    except CairnError as error:
        log.failed_with(EvidenceCheck.TEE_KIND, error, component="TEE")
        return None


def verify_evidence(
    bundle: EvidenceBundle,
    request: EvidenceVerifyRequest,
    *,
    registry: VerifierRegistry = TEE_VERIFIERS,
) -> VerificationResult:
    """Verify one evidence bundle; the result lists every check (never raises on bad evidence).

    The TEE evidence goes to the verifier ``registry`` names for its kind (:mod:`.registry`).
    """
    log = CheckLog()
    policy = request.policy.evidence
    _check_claims(bundle, request.nonce, log)
    warnings: list[str] = []
    tee = _tee_verifier(bundle, registry, log)
    expected = _expected_report_data(bundle, log, request.channel_key)
    tee_result = None
    if tee is not None:
        tee_result = _verify_tee(bundle, tee, expected, request=request, log=log, warnings=warnings)
    claims: dict[str, object] = {}
    if tee_result is not None:
        log.checks.extend(_explain_binding(c, bundle) for c in tee_result.checks)
        claims["tee"] = dict(tee_result.claims)
        warnings.extend(tee_result.warnings)
    quote = _verify_tpm(bundle, policy, log, ak_read=expected is not None)
    measured_boot = _check_unsigned_attachments(bundle, tee, quote, log)
    gpu_claims = check_gpus(bundle, request, log, warnings)
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
    if measured_boot is not None:
        claims["measured_boot"] = measured_boot
    if gpu_claims is not None:
        claims["gpu"] = gpu_claims
    return VerificationResult(
        kind=KIND,
        subject=request.subject,
        verified_at=request.at,
        checks=tuple(log.checks),
        claims=claims,
        warnings=tuple(warnings),
    )
