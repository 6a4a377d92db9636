"""Recorded pipeline steps (checks.StepMemo): a replay gives exactly what a fresh run gives, and
nothing is replayed for different inputs (time, policy, collateral, certificates).

The SEV-SNP and TDX pipelines record what depends only on the certificates, the collateral, the
time and the policy, and replay it for the next report or quote with the same inputs; the GPU
pipeline records each device's chain steps and, without an OCSP lookup, its revocation step.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cairn_verifier.checks import StepMemo, VerificationResult
from cairn_verifier.errors import ExitCode
from cairn_verifier.gpu import verify as gpu_verify
from cairn_verifier.gpu.families import DeviceFamily
from cairn_verifier.gpu.policy import GpuPolicy
from cairn_verifier.gpu.verify import GpuVerifyRequest, verify_gpu_evidence
from cairn_verifier.inputs.gpu import read_gpu_evidence
from cairn_verifier.snp.certs import load_cert_collection
from cairn_verifier.snp.policy import SnpPolicy
from cairn_verifier.snp.verify import SnpVerifyRequest, verify_snp_report
from cairn_verifier.tdx.collateral import load_dcap_qvl_collateral
from cairn_verifier.tdx.policy import TdxPolicy
from cairn_verifier.tdx.quote import parse_quote
from cairn_verifier.tdx.tcb_info import TcbStatus
from cairn_verifier.tdx.verify import TdxVerifyRequest, verify_tdx_quote

REPO = Path(__file__).resolve().parents[2]
SNP = REPO / "examples" / "snp" / "milan-v3-oak-containers"
TDX = REPO / "examples" / "tdx" / "dcap-qvl-sample"
PPCIE = REPO / "tests/vectors/gpu/go-nvattest-tools/testing/testdata/test_ppcie_data.json"


def _outcome(result: VerificationResult) -> object:
    return (result.exit_code, result.to_json()["checks"], result.claims, result.warnings)


def _tdx_request(**changes: object) -> tuple[bytes, TdxVerifyRequest]:
    at = datetime.fromisoformat((TDX / "verify-at").read_text().strip().replace("Z", "+00:00"))
    collateral = load_dcap_qvl_collateral((TDX / "collateral.json").read_bytes())
    request = TdxVerifyRequest(at=at, collateral=collateral)
    return (TDX / "quote.bin").read_bytes(), dataclasses.replace(request, **changes)


def test_a_replayed_tdx_verification_equals_a_fresh_one() -> None:
    raw, request = _tdx_request()
    first = verify_tdx_quote(parse_quote(raw), request)
    again = verify_tdx_quote(parse_quote(raw), request)
    assert first.exit_code is ExitCode.OK
    assert _outcome(again) == _outcome(first)
    assert again.claims is not first.claims  # each result owns its claims
    assert again.claims["advisory_ids"] is not first.claims["advisory_ids"]


def test_tdx_steps_are_not_replayed_for_other_inputs() -> None:
    raw, request = _tdx_request()
    assert verify_tdx_quote(parse_quote(raw), request).exit_code is ExitCode.OK
    strict = TdxPolicy(accepted_tcb_statuses=(TcbStatus.REVOKED,))
    rejected = verify_tdx_quote(parse_quote(raw), dataclasses.replace(request, policy=strict))
    assert rejected.exit_code is ExitCode.POLICY_REJECTED
    later = dataclasses.replace(request, at=request.at + timedelta(days=3650))
    expired = verify_tdx_quote(parse_quote(raw), later)
    assert expired.exit_code is not ExitCode.OK
    assert any(c.name == "validity" and c.outcome.value == "fail" for c in expired.checks)
    without_crl = dataclasses.replace(
        request, collateral=dataclasses.replace(request.collateral, root_ca_crl=None)
    )
    missing = verify_tdx_quote(parse_quote(raw), without_crl)
    assert missing.exit_code is ExitCode.COLLATERAL_UNAVAILABLE


def test_a_tampered_quote_is_checked_afresh() -> None:
    raw, request = _tdx_request()
    assert verify_tdx_quote(parse_quote(raw), request).exit_code is ExitCode.OK
    tampered = bytearray(raw)
    tampered[200] ^= 1  # inside the TD report: the quote signature no longer verifies
    result = verify_tdx_quote(parse_quote(bytes(tampered)), request)
    assert result.exit_code is ExitCode.SIGNATURE_INVALID


def test_a_replayed_snp_verification_equals_a_fresh_one() -> None:
    request = SnpVerifyRequest(at=datetime(2026, 3, 1, tzinfo=UTC), certs=load_cert_collection(SNP))
    report = (SNP / "report.bin").read_bytes()
    first = verify_snp_report(report, request)
    again = verify_snp_report(report, request)
    assert first.exit_code is ExitCode.OK
    assert _outcome(again) == _outcome(first)
    expired = verify_snp_report(
        report, dataclasses.replace(request, at=datetime(2099, 1, 1, tzinfo=UTC))
    )
    assert expired.exit_code is ExitCode.CHAIN_UNTRUSTED
    required = dataclasses.replace(request, policy=SnpPolicy(require_crl=True))
    assert verify_snp_report(report, required).exit_code is ExitCode.COLLATERAL_UNAVAILABLE


def test_a_replayed_gpu_verification_equals_a_fresh_one() -> None:
    """The 12-device PPCIe node (8 GPUs, 4 NVSwitches): the replayed chain and revocation
    steps give what a fresh run gives; other times, policies and nonces are checked afresh."""
    devices = read_gpu_evidence(PPCIE.read_bytes()).devices
    request = GpuVerifyRequest(
        at=datetime(2026, 1, 1, tzinfo=UTC), nonce=bytes.fromhex("1234567890" * 6 + "1234")
    )
    first = verify_gpu_evidence(devices, request)
    again = verify_gpu_evidence(devices, request)
    assert first.exit_code is ExitCode.OK
    assert _outcome(again) == _outcome(first)
    gpus_only = GpuPolicy(families=(DeviceFamily.GH100,))
    narrowed = verify_gpu_evidence(devices, dataclasses.replace(request, policy=gpus_only))
    assert narrowed.exit_code is ExitCode.POLICY_REJECTED
    earlier = verify_gpu_evidence(
        devices, dataclasses.replace(request, at=datetime(2000, 1, 1, tzinfo=UTC))
    )
    assert any(c.name == "validity" and c.outcome.value == "fail" for c in earlier.checks)
    required = GpuPolicy(require_revocation=True)
    strict = verify_gpu_evidence(devices, dataclasses.replace(request, policy=required))
    assert strict.exit_code is ExitCode.COLLATERAL_UNAVAILABLE
    stale = verify_gpu_evidence(devices, dataclasses.replace(request, nonce=bytes(32)))
    assert stale.exit_code is ExitCode.CONTENT_MISMATCH
    assert _outcome(verify_gpu_evidence(devices, request)) == _outcome(first)


def test_gpu_chain_steps_replayed_at_another_time_equal_a_fresh_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The chain checks do not read the time (validity, which does, runs every time), and
    without CRLs or OCSP neither does revocation: they are replayed for another verification
    time, and the result is the one an empty memo gives."""
    devices = read_gpu_evidence(PPCIE.read_bytes()).devices
    nonce = bytes.fromhex("1234567890" * 6 + "1234")
    request = GpuVerifyRequest(at=datetime(2026, 1, 1, tzinfo=UTC), nonce=nonce)
    assert verify_gpu_evidence(devices, request).exit_code is ExitCode.OK
    later = dataclasses.replace(request, at=request.at + timedelta(days=1))
    replayed = verify_gpu_evidence(devices, later)
    monkeypatch.setattr(gpu_verify, "_STEPS", StepMemo(maxsize=256))
    fresh = verify_gpu_evidence(devices, later)
    assert _outcome(replayed) == _outcome(fresh)
    assert replayed.verified_at == fresh.verified_at == later.at


def test_the_memo_checks_identity_anchors_and_stays_bounded() -> None:
    from cairn_verifier.checks import Recorded

    memo = StepMemo(maxsize=2)
    anchor, other = object(), object()
    entry = Recorded(checks=(), claims=(), warnings=(), state=(), returned=1, anchors=(anchor,))
    memo.put("a", entry)
    assert memo.get("a", (anchor,)) is entry
    assert memo.get("a", (other,)) is None  # same key, another object: not a hit
    memo.put("b", entry)
    memo.put("c", entry)
    assert memo.get("a", (anchor,)) is None  # least recently used, evicted
