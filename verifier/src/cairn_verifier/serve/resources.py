"""A resource's release policy, applied to a signed attestation result (EAR) the broker issued.

The appraisal (``ear.py``) says how the evidence fared against the broker's appraisal policy; a
resource policy says which of those results may have this resource: the trust tiers it accepts,
TEE kinds, simulated platforms, launch measurements, the TCB (SEV-SNP floor per component, TDX
statuses), the booted system, services, and how old the result may be. Every key is optional
except that simulated platforms and tiers below ``affirming`` must be allowed explicitly; unknown
keys are refused.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_LIST = 256


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
    age = now - int(ear["iat"])
    if age > policy.max_age_seconds:
        reasons.append(
            f"the attestation result is {age} s old; the resource accepts at most "
            f"{policy.max_age_seconds} s"
        )
    return reasons
