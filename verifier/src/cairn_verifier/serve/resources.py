"""A resource's release policy, applied to a signed attestation result (EAR) the broker issued.

The appraisal (``ear.py``) says how the evidence fared against the broker's appraisal policy; a
resource policy says which of those results may have this resource: the trust tiers it accepts,
TEE kinds, simulated platforms, launch measurements, the TCB (SEV-SNP floor per component, TDX
statuses), the booted system, services, GPUs (at least N verified devices per family, simulated
ones only when allowed) and how old the result may be. Every key is optional except that
simulated platforms and tiers below ``affirming`` must be allowed explicitly; unknown keys are
refused.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_LIST = 256
GpuFamily = Literal["GH100", "GB100", "LS_10"]
"""The device families the verifier certifies (``cairn_verifier.gpu.families.DeviceFamily``)."""


class GpuRequirement(BaseModel):
    """The GPUs (and NVSwitches) an attestation result must show, every one verified."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    minimum_devices: dict[GpuFamily, int] = Field(min_length=1)
    """At least this many verified devices of each family named (e.g. ``{"GH100": 2}``)."""
    allow_simulated: bool = False
    """Devices chained to a trusted simulated root (never NVIDIA's) are accepted."""
    require_rim_match: bool = False
    """Every device's measurements were compared with NVIDIA's RIMs and equal them."""

    @field_validator("minimum_devices")
    @classmethod
    def _counts(cls, value: dict[str, int]) -> dict[str, int]:
        for family, count in value.items():
            if not 1 <= count <= 64:
                raise ValueError(f"minimum_devices.{family} must be 1-64")
        return value


class ResourcePolicy(BaseModel):
    """What an attestation result must say for the resource to be released."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    allow_tiers: list[Literal["affirming", "warning"]] = Field(default=["affirming"], min_length=1)
    """``ear.status`` values accepted; ``warning`` admits e.g. a self-reported system."""
    tee_kinds: list[str] | None = Field(default=None, max_length=MAX_LIST)
    allow_simulated: bool = False
    measurements: list[str] | None = Field(default=None, max_length=MAX_LIST)
    """SEV-SNP MEASUREMENT or TDX MRTD values (lowercase hex) accepted."""
    minimum_tcb: dict[str, int] | None = None
    """SEV-SNP reported TCB floor per component (bootloader, tee, snp, microcode, fmc)."""
    tcb_statuses: list[str] | None = Field(default=None, max_length=MAX_LIST)
    """TDX TCB statuses accepted (e.g. UpToDate)."""
    system_store_paths: list[str] | None = Field(default=None, max_length=MAX_LIST)
    require_measured_system: bool = False
    """Only a system checked against the image's reference values (not self-reported)."""
    required_services: list[str] = Field(default=[], max_length=MAX_LIST)
    gpus: GpuRequirement | None = None
    """GPUs the guest must have proven inside its evidence (docs/gpu.md)."""
    max_age_seconds: int = Field(default=300, gt=0, le=86400)
    """How old (since the broker issued it) a result may be."""

    @field_validator("measurements")
    @classmethod
    def _hex(cls, values: list[str] | None) -> list[str] | None:
        for value in values or ():
            if len(value) not in (96,) or not all(c in "0123456789abcdef" for c in value):
                raise ValueError(f"{value[:20]!r}…: a measurement is 96 lowercase hex digits")
        return values

    @field_validator("minimum_tcb")
    @classmethod
    def _tcb(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        known = {"bootloader", "tee", "snp", "microcode", "fmc"}
        for name, level in (value or {}).items():
            if name not in known:
                raise ValueError(f"unknown TCB component {name[:20]!r}; known: {sorted(known)}")
            if not 0 <= level <= 255:
                raise ValueError(f"TCB component {name} must be 0-255")
        return value


def evaluate(policy: ResourcePolicy, ear: dict[str, Any], now: int) -> list[str]:
    """Why ``policy`` refuses the verified EAR claims ``ear`` at ``now`` (Unix seconds); empty
    when it accepts them. Every reason is listed, in the order of the policy's keys."""
    reasons: list[str] = []
    appraisal: dict[str, Any] = ear["submods"]["cairn"]
    evidence: dict[str, Any] = appraisal["cairn.evidence"]
    status = appraisal["ear.status"]
    if status not in policy.allow_tiers:
        failed = ", ".join(evidence.get("failed_checks", [])) or "none"
        reasons.append(
            f"the attestation result is {status!r} (failed checks: {failed}); the resource "
            f"accepts {list(policy.allow_tiers)}"
        )
    kind = evidence.get("tee_kind")
    if policy.tee_kinds is not None and kind not in policy.tee_kinds:
        reasons.append(f"TEE kind {kind!r} is not one of {list(policy.tee_kinds)}")
    if evidence.get("simulated") and not policy.allow_simulated:
        reasons.append("the TEE is simulated and the resource does not allow simulated platforms")
    measurement = evidence.get("measurement")
    if policy.measurements is not None and measurement not in policy.measurements:
        reasons.append(f"measurement {measurement} is not one the resource accepts")
    tcb = evidence.get("tcb") or {}
    for component, floor in (policy.minimum_tcb or {}).items():
        level = tcb.get(component)
        if not isinstance(level, int) or level < floor:
            reasons.append(f"TCB {component} is {level}, below the resource's minimum {floor}")
    if policy.tcb_statuses is not None and evidence.get("tcb_status") not in policy.tcb_statuses:
        reasons.append(
            f"TCB status {evidence.get('tcb_status')!r} is not one of {list(policy.tcb_statuses)}"
        )
    system = evidence.get("system")
    if policy.system_store_paths is not None and system not in policy.system_store_paths:
        reasons.append(f"system {system} is not one the resource accepts")
    if policy.require_measured_system and not evidence.get("system_measured"):
        reasons.append("the system is self-reported (not checked against reference values)")
    services = {s.get("name") for s in evidence.get("services", [])}
    missing = [name for name in policy.required_services if name not in services]
    if missing:
        reasons.append(f"required services not attested: {', '.join(missing)}")
    if policy.gpus is not None:
        reasons.extend(_gpu_reasons(policy.gpus, evidence.get("gpu")))
    age = now - int(ear["iat"])
    if age > policy.max_age_seconds:
        reasons.append(
            f"the attestation result is {age} s old; the resource accepts at most "
            f"{policy.max_age_seconds} s"
        )
    return reasons


def _gpu_reasons(wanted: GpuRequirement, gpu: Any) -> list[str]:
    """Why the result's GPU summary (``cairn.evidence.gpu``) does not meet ``wanted``."""
    if not isinstance(gpu, dict):
        return ["the attestation result shows no GPUs (the evidence carries no GPU evidence)"]
    if not gpu.get("verified"):
        return ["the GPU evidence was not verified (the gpu-evidence check did not pass)"]
    reasons: list[str] = []
    if gpu.get("simulated") and not wanted.allow_simulated:
        reasons.append("the GPUs are simulated and the resource does not allow simulated GPUs")
    devices = [d for d in gpu.get("devices", []) if isinstance(d, dict)]
    for family, minimum in wanted.minimum_devices.items():
        count = sum(1 for d in devices if d.get("family") == family)
        if count < minimum:
            reasons.append(
                f"{count} verified {family} devices; the resource requires at least {minimum}"
            )
    if wanted.require_rim_match:
        unmatched = [i for i, d in enumerate(devices) if not d.get("measurements_match")]
        if unmatched:
            reasons.append(
                f"the measurements of GPU devices {unmatched} were not matched against NVIDIA's "
                "RIMs"
            )
    return reasons
