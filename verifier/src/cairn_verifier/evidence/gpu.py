"""The GPUs of an evidence bundle (docs/spec/gpu-evidence-v1.md): present exactly when the claims
name a ``gpu_digest``, equal to that digest, and verified by the GPU pipeline (:mod:`..gpu.verify`)
with the SPDM nonce derived from the bundle's nonce and the ``[gpu]`` policy.

The binding is two links: REPORT_DATA (checked by the TEE pipeline) commits to the claims'
``gpu_digest``; ``gpu-digest`` checks that the GPU evidence in the bundle is what it names. The
nonce each report signed (``spdm-nonce``) proves the GPUs answered this request, so an old GPU
report cannot be bound into a new bundle. A simulated GPU chain is trusted only through a
``--trust-simulated-root`` that issued it, and is never given NVIDIA's RIM or OCSP services.
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from typing import TYPE_CHECKING

from ..binding.gpu_digest import gpu_nonce
from ..check_names import EvidenceCheck
from ..checks import CheckLog, Outcome
from ..errors import CairnError, ExitCode
from .models import EvidenceBundle, GpuEvidence
from .request import EvidenceVerifyRequest

if TYPE_CHECKING:
    from ..x509.cert import Certificate

CONTENT = ExitCode.CONTENT_MISMATCH
COMPONENT = "GPU evidence"


def _expected_devices(request: EvidenceVerifyRequest) -> int:
    return sum(int(n) for n in request.policy.gpu.device_counts.values())


def check_gpus(
    bundle: EvidenceBundle,
    request: EvidenceVerifyRequest,
    log: CheckLog,
    warnings: list[str],
) -> dict[str, object] | None:
    """Record the GPU checks; the GPU result's claims when GPU evidence was verified."""
    digest, gpu = bundle.claims.gpu_digest, bundle.gpu
    if gpu is None and digest is None:
        wanted = _expected_devices(request)
        if wanted:
            log.failed(
                EvidenceCheck.GPU_EVIDENCE,
                COMPONENT,
                ExitCode.POLICY_REJECTED,
                f"the evidence carries no GPU evidence; the [gpu] policy's device_counts expect "
                f"{wanted} devices",
                hint="configure the agent's GPU provider (gpu.provider), or drop device_counts",
            )
        return None
    if gpu is None:
        log.failed(
            EvidenceCheck.GPU_EVIDENCE,
            COMPONENT,
            CONTENT,
            f"the claims name gpu_digest {digest.hex() if digest else ''}, but the bundle "
            "carries no GPU evidence",
            hint="the GPU evidence was removed from the bundle: request fresh evidence",
        )
        return None
    if digest is None:
        log.failed(
            EvidenceCheck.GPU_EVIDENCE,
            COMPONENT,
            CONTENT,
            f"the bundle carries evidence of {len(gpu.devices)} GPU devices, but the claims name "
            "no gpu_digest: REPORT_DATA does not commit to it",
            hint="the GPU evidence was added to the bundle after the report was made: request "
            "fresh evidence",
        )
        return None
    recomputed = gpu.digest()
    if not log.check(
        hmac.compare_digest(recomputed, digest),
        EvidenceCheck.GPU_DIGEST,
        COMPONENT,
        CONTENT,
        f"the {len(gpu.devices)} devices' reports and chains hash to the claims' gpu_digest",
        expected=digest.hex(),
        actual=recomputed.hex(),
        hint="the GPU evidence was changed after REPORT_DATA committed to it, or comes from "
        "another request: request fresh evidence",
    ):
        return None
    return _verify_devices(bundle, gpu, request, log, warnings)


def _verify_devices(
    bundle: EvidenceBundle,
    gpu: GpuEvidence,
    request: EvidenceVerifyRequest,
    log: CheckLog,
    warnings: list[str],
) -> dict[str, object] | None:
    from ..gpu.evidence import DeviceEvidence
    from ..gpu.verify import GpuVerifyRequest, verify_gpu_evidence
    from ..x509.cert import parse_certificate
    from .simulated import issuing_root

    devices = [
        DeviceEvidence(d.report, tuple(d.certificates), f"gpu.devices[{i}]")
        for i, d in enumerate(gpu.devices)
    ]
    trusted: Certificate | None = None
    if request.simulated_roots:
        try:
            chain = [parse_certificate(der) for der in devices[0].certificates]
        except CairnError:
            chain = []
        trusted = issuing_root(chain, request.simulated_roots)
    nonce = gpu_nonce(bundle.claims.nonce)
    gpu_request = GpuVerifyRequest(
        at=request.at,
        policy=request.policy.gpu,
        subject=request.subject,
        nonce=nonce,
        trusted_root=trusted,
    )
    if trusted is None:  # NVIDIA's services know nothing of a simulated device
        if request.gpu_rims is not None:
            gpu_request = replace(gpu_request, rims=request.gpu_rims)
        if request.gpu_revocation is not None:
            gpu_request = replace(gpu_request, revocation=request.gpu_revocation)
    result = verify_gpu_evidence(devices, gpu_request)
    log.checks.extend(result.checks)
    warnings.extend(result.warnings)
    failed = [c for c in result.checks if c.outcome is Outcome.FAIL]
    if failed:
        log.failed(
            EvidenceCheck.GPU_EVIDENCE,
            COMPONENT,
            failed[0].category or ExitCode.CONTENT_MISMATCH,
            f"{len(failed)} GPU checks failed, first {failed[0].name} on {failed[0].component}",
            hint=failed[0].hint,
        )
    else:
        simulated = " (SIMULATED: chained to a --trust-simulated-root)" if trusted else ""
        log.passed(
            EvidenceCheck.GPU_EVIDENCE,
            COMPONENT,
            f"{len(devices)} devices verified for SPDM nonce {nonce.hex()[:16]}… "
            f"(SHA-256 of the domain tag and the bundle's nonce){simulated}",
        )
    return {**dict(result.claims), "gpu_nonce": nonce.hex()}
