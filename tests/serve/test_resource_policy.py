"""Resource policies on attestation results, in-process: what each key refuses (and that every
reason is named, in the policy's order), the defaults (affirming only, no simulated platform,
results at most 300 s old), and policies that are malformed input."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cairn_verifier.serve.ear import build_claims
from cairn_verifier.serve.resources import ResourcePolicy, evaluate

NOW = 1_800_000_000
MEASUREMENT = "ab" * 48
SYSTEM = "/nix/store/0c1i4g9kq7bhm8lcjj8h4pyf1r6b6nh9-nixos-system-cairn-test-25.11"
TCB = {"bootloader": 9, "tee": 0, "snp": 23, "microcode": 72, "fmc": 0}


def _result(status: str = "affirming", *, iat: int = NOW, **evidence: Any) -> dict[str, Any]:
    """The claims of an EAR as ``ear.build_claims`` makes them, for SEV-SNP evidence."""
    appraisal = {
        "ear.status": status,
        "ear.trustworthiness-vector": {},
        "cairn.evidence": {
            "tee_kind": "sev-snp",
            "simulated": False,
            "measurement": MEASUREMENT,
            "tcb": dict(TCB),
            "tcb_status": None,
            "guest_svn": 0,
            "system": SYSTEM,
            "system_measured": True,
            "services": [{"name": "echo-cpp", "store_path": "/nix/store/x", "public_key": "02"}],
            "tree_root": "00" * 32,
            "failed_checks": ["nonce"] if status == "contraindicated" else [],
            "warnings": [],
            **evidence,
        },
    }
    return build_claims(
        appraisal,
        policy_id="cairn-policy:sha256:00",
        issuer="test",
        nonce=b"\0" * 32,
        channel_jwk={"kty": "OKP", "crv": "X25519", "x": "AA"},
        now=iat,
        lifetime=120,
    )


def _policy(**keys: Any) -> ResourcePolicy:
    return ResourcePolicy.model_validate(keys)


def test_the_defaults_accept_only_a_fresh_affirming_real_platform() -> None:
    assert evaluate(_policy(), _result(), NOW) == []
    assert evaluate(_policy(), _result("warning"), NOW) == [
        "the attestation result is 'warning' (failed checks: none); the resource accepts "
        "['affirming']"
    ]
    assert evaluate(_policy(), _result("contraindicated"), NOW) == [
        "the attestation result is 'contraindicated' (failed checks: nonce); the resource "
        "accepts ['affirming']"
    ]
    assert evaluate(_policy(), _result(simulated=True), NOW) == [
        "the TEE is simulated and the resource does not allow simulated platforms"
    ]
    assert evaluate(_policy(), _result(iat=NOW - 300), NOW) == []
    assert evaluate(_policy(), _result(iat=NOW - 301), NOW) == [
        "the attestation result is 301 s old; the resource accepts at most 300 s"
    ]


def test_a_tcb_below_the_floor_or_without_the_component_is_refused() -> None:
    policy = _policy(minimum_tcb={"snp": 23, "microcode": 73})
    assert evaluate(policy, _result(), NOW) == [
        "TCB microcode is 72, below the resource's minimum 73"
    ]
    # TDX evidence has no SEV-SNP TCB: a floor refuses it instead of passing it.
    assert evaluate(_policy(minimum_tcb={"snp": 0}), _result(tcb=None), NOW) == [
        "TCB snp is None, below the resource's minimum 0"
    ]


def test_tdx_tcb_statuses_systems_and_kinds() -> None:
    tdx = _result(tee_kind="tdx", tcb=None, tcb_status="OutOfDate")
    assert evaluate(_policy(tee_kinds=["tdx"], tcb_statuses=["UpToDate"]), tdx, NOW) == [
        "TCB status 'OutOfDate' is not one of ['UpToDate']"
    ]
    assert evaluate(_policy(tee_kinds=["sev-snp"]), tdx, NOW) == [
        "TEE kind 'tdx' is not one of ['sev-snp']"
    ]
    assert evaluate(_policy(system_store_paths=[SYSTEM]), _result(), NOW) == []
    assert evaluate(_policy(system_store_paths=["/nix/store/other"]), _result(), NOW) == [
        f"system {SYSTEM} is not one the resource accepts"
    ]
    assert evaluate(_policy(require_measured_system=True), _result(system_measured=False), NOW) == [
        "the system is self-reported (not checked against reference values)"
    ]


def test_every_reason_is_named_in_the_policys_order() -> None:
    policy = _policy(
        measurements=["cd" * 48],
        minimum_tcb={"tee": 1},
        required_services=["echo-cpp", "echo-rust"],
        max_age_seconds=60,
    )
    assert evaluate(policy, _result("warning", iat=NOW - 61), NOW) == [
        "the attestation result is 'warning' (failed checks: none); the resource accepts "
        "['affirming']",
        f"measurement {MEASUREMENT} is not one the resource accepts",
        "TCB tee is 0, below the resource's minimum 1",
        "required services not attested: echo-rust",
        "the attestation result is 61 s old; the resource accepts at most 60 s",
    ]


def _gpus(*families: str, verified: bool = True, simulated: bool = False) -> dict[str, Any]:
    """``cairn.evidence.gpu`` as ``ear.gpu_summary`` makes it."""
    return {
        "verified": verified,
        "simulated": simulated,
        "devices": [
            {
                "family": family,
                "kind": "NVSwitch" if family == "LS_10" else "GPU",
                "driver_version": "550.90.07",
                "firmware_version": "96.00.9F.00.01",
                "measurements_match": family != "GB100",
            }
            for family in families
        ],
    }


def test_gpus_each_condition_refuses_with_its_reason() -> None:
    two = {"gpus": {"minimum_devices": {"GH100": 2}}}
    assert evaluate(_policy(**two), _result(gpu=_gpus("GH100", "GH100")), NOW) == []
    assert evaluate(_policy(**two), _result(gpu=_gpus("GH100", "GH100", "GH100")), NOW) == []
    assert evaluate(_policy(**two), _result(gpu=_gpus("GH100", "LS_10")), NOW) == [
        "1 verified GH100 devices; the resource requires at least 2"
    ]
    assert evaluate(_policy(**two), _result(gpu=None), NOW) == [
        "the attestation result shows no GPUs (the evidence carries no GPU evidence)"
    ]
    assert evaluate(_policy(**two), _result(), NOW) == [  # a result issued before GPUs counted
        "the attestation result shows no GPUs (the evidence carries no GPU evidence)"
    ]
    # Not verified (with a warning tier allowed, so only the GPU condition speaks).
    unverified = _result("warning", gpu=_gpus("GH100", "GH100", verified=False))
    assert evaluate(_policy(allow_tiers=["warning"], **two), unverified, NOW) == [
        "the GPU evidence was not verified (the gpu-evidence check did not pass)"
    ]
    simulated = _result(gpu=_gpus("GH100", "GH100", simulated=True))
    assert evaluate(_policy(**two), simulated, NOW) == [
        "the GPUs are simulated and the resource does not allow simulated GPUs"
    ]
    allowed = {"gpus": {"minimum_devices": {"GH100": 2}, "allow_simulated": True}}
    assert evaluate(_policy(**allowed), simulated, NOW) == []
    rims = {"gpus": {"minimum_devices": {"GH100": 1, "GB100": 1}, "require_rim_match": True}}
    assert evaluate(_policy(**rims), _result(gpu=_gpus("GH100", "GB100")), NOW) == [
        "the measurements of GPU devices [1] were not matched against NVIDIA's RIMs"
    ]
    # Every family short is named; the TEE's own simulation is a separate condition.
    both = {"gpus": {"minimum_devices": {"GH100": 8, "LS_10": 4}, "allow_simulated": True}}
    assert evaluate(_policy(**both), _result(simulated=True, gpu=_gpus("GH100")), NOW) == [
        "the TEE is simulated and the resource does not allow simulated platforms",
        "1 verified GH100 devices; the resource requires at least 8",
        "0 verified LS_10 devices; the resource requires at least 4",
    ]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"measurements": ["AB" * 48]}, "96 lowercase hex digits"),
        ({"measurements": ["ab" * 32]}, "96 lowercase hex digits"),
        ({"minimum_tcb": {"ucode": 1}}, "unknown TCB component"),
        ({"minimum_tcb": {"snp": 256}}, "must be 0-255"),
        ({"allow_tiers": ["contraindicated"]}, "allow_tiers"),
        ({"allow_tiers": []}, "allow_tiers"),
        ({"max_age_seconds": 0}, "max_age_seconds"),
        ({"max_age_seconds": 86401}, "max_age_seconds"),
        ({"allow_simulated": "yes"}, "allow_simulated"),
        ({"measurement": [MEASUREMENT]}, "Extra inputs are not permitted"),
        ({"tee_kinds": ["sev-snp"] * 257}, "tee_kinds"),
        ({"gpus": {"minimum_devices": {"H100": 1}}}, "gpus.minimum_devices"),
        ({"gpus": {"minimum_devices": {"GH100": 0}}}, "must be 1-64"),
        ({"gpus": {"minimum_devices": {}}}, "gpus.minimum_devices"),
        ({"gpus": {"minimum_devices": {"GH100": 1}, "simulated": True}}, "Extra inputs"),
        ({"gpus": {"minimum_devices": {"GH100": True}}}, "gpus.minimum_devices"),
    ],
)
def test_malformed_policies_are_refused(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _policy(**keys)
