"""Recorded pipeline steps (checks.StepMemo): a replay gives exactly what a fresh run gives, and
nothing is replayed for different inputs (time, policy, collateral, certificates).

The SEV-SNP and TDX pipelines record what depends only on the certificates, the collateral, the
time and the policy, and replay it for the next report or quote with the same inputs; SEV-SNP
also replays the binding to the certificate and the platform appraisal by the report fields
they read; the GPU pipeline records each device's chain steps and, without an OCSP lookup, its
revocation step.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from cairn_agent.tee.simulated_snp import GUEST_POLICY, SimulatedSnpProvider
from cairn_verifier.checks import StepMemo, VerificationResult
from cairn_verifier.collateral.cache import CollateralCache
from cairn_verifier.errors import ExitCode
from cairn_verifier.gpu import verify as gpu_verify
from cairn_verifier.gpu.families import DeviceFamily
from cairn_verifier.gpu.policy import GpuPolicy
from cairn_verifier.gpu.verify import GpuVerifyRequest, verify_gpu_evidence
from cairn_verifier.inputs.gpu import read_gpu_evidence
from cairn_verifier.snp import verify as snp_verify
from cairn_verifier.snp.certs import CertCollection, load_cert_collection
from cairn_verifier.snp.flags import GuestPolicy, SignerInfo
from cairn_verifier.snp.kds import KdsClient
from cairn_verifier.snp.policy import SnpPolicy
from cairn_verifier.snp.report import SIGNED_SIZE, build_report, parse_report
from cairn_verifier.snp.verify import SnpVerifyRequest, verify_snp_report
from cairn_verifier.tdx.collateral import load_dcap_qvl_collateral
from cairn_verifier.tdx.policy import TdxPolicy
from cairn_verifier.tdx.quote import parse_quote
from cairn_verifier.tdx.tcb_info import TcbStatus
from cairn_verifier.tdx.verify import TdxVerifyRequest, verify_tdx_quote
from cairn_verifier.x509.cert import parse_certificate

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


def test_an_offline_kds_client_with_nothing_to_consult_is_replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline, without a bundle or a cache, a KDS client fails every lookup the same way, so
    the validity and revocation step is recorded (the client is an anchor); with a cache, which
    may answer differently next time, it is not."""
    report = (SNP / "report.bin").read_bytes()
    at = datetime(2026, 3, 1, tzinfo=UTC)
    offline = SnpVerifyRequest(at=at, certs=load_cert_collection(SNP), kds=KdsClient(offline=True))
    assert offline.kds is not None and offline.kds.consults_nothing
    memo = StepMemo(maxsize=256)
    monkeypatch.setattr(snp_verify, "_STEPS", memo)
    first = verify_snp_report(report, offline)
    again = verify_snp_report(report, offline)
    assert _outcome(again) == _outcome(first)
    revocation = next(c for c in first.checks if c.name == "revocation")
    assert revocation.outcome.value == "skipped" and "offline mode" in revocation.summary
    recorded = [key for key in memo._entries if key[0] == "platform"]  # type: ignore[index]
    assert len(recorded) == 1
    other = dataclasses.replace(offline, kds=KdsClient(offline=True))
    assert _outcome(verify_snp_report(report, other)) == _outcome(first)
    assert len([key for key in memo._entries if key[0] == "platform"]) == 2  # type: ignore[index]
    cached = KdsClient(cache=CollateralCache(tmp_path / "cache"), offline=True)
    assert not cached.consults_nothing
    assert verify_snp_report(report, dataclasses.replace(offline, kds=cached)).exit_code is (
        first.exit_code
    )
    assert len([key for key in memo._entries if key[0] == "platform"]) == 2  # type: ignore[index]


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


# --- SEV-SNP: the binding and platform appraisal, replayed by the report fields they read ----


def _signed_variant(provider: SimulatedSnpProvider, **changes: object) -> bytes:
    """The provider's report with ``changes`` to its fields, signed again by its VCEK."""
    fields = parse_report(provider.report(bytes(64))).field_values()
    fields.update(changes)
    fields.pop("signature_r"), fields.pop("signature_s")
    unsigned = build_report(fields)
    key = provider.chain.ec_key("vcek")
    r, s = decode_dss_signature(key.sign(unsigned[:SIGNED_SIZE], ec.ECDSA(hashes.SHA384())))
    return build_report({**fields, "signature_r": r, "signature_s": s})


def test_snp_binding_and_appraisal_are_replayed_only_for_the_same_report_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each variant changes one field the binding or the appraisal reads; verified right after
    the genuine report (whose steps are recorded), it gives what a verifier with nothing recorded
    gives, and that differs from the genuine report's outcome (a replay keyed too loosely would
    give the genuine report's checks)."""
    provider = SimulatedSnpProvider(tmp_path)
    chain = [parse_certificate(der) for der in provider.certificates()]
    request = SnpVerifyRequest(
        at=datetime.now(UTC),
        certs=CertCollection.from_certificates(chain),
        trusted_root=chain[2],
    )
    genuine = _signed_variant(provider)
    assert GuestPolicy.build(smt=True).raw == GUEST_POLICY  # the provider's guest policy
    tcb = provider.tcb.raw()
    variants = {
        "chip id": _signed_variant(provider, chip_id=bytes(64 - 1) + b"\x01"),
        "masked chip id": _signed_variant(
            provider, signer_info=SignerInfo.build(mask_chip_id=True), chip_id=bytes(64)
        ),
        "reported tcb": _signed_variant(provider, reported_tcb=tcb[:7] + bytes([tcb[7] + 1])),
        "cpuid model": _signed_variant(provider, cpuid_mod_id=0x01),  # a Milan part
        "debug": _signed_variant(provider, policy=GuestPolicy.build(smt=True, debug=True)),
        "migration agent": _signed_variant(
            provider, policy=GuestPolicy.build(smt=True, migrate_ma=True)
        ),
        "vmpl": _signed_variant(provider, vmpl=3),
    }
    expected = verify_snp_report(genuine, request)
    assert expected.exit_code is ExitCode.OK
    for name, report in variants.items():
        assert _outcome(verify_snp_report(genuine, request)) == _outcome(expected), name
        warm = verify_snp_report(report, request)
        monkeypatch.setattr(snp_verify, "_STEPS", StepMemo(maxsize=256))  # nothing recorded
        cold = verify_snp_report(report, request)
        assert _outcome(warm) == _outcome(cold), name
        assert _outcome(warm) != _outcome(expected), name
