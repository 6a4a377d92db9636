"""The agent sends a TD's CCEL with its TDX evidence (``tee.ccel``, a fake sysfs here), in an
evidence bundle of version 2, and ``cairn verify evidence`` replays it against the quote's RTMRs
(``rtmr-event-log``). The CCEL holds the real events of dstack's TD (tests/fakes/ccel.py); the
simulated TD's RTMRs are its replay, as a real TD's firmware extends them."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakes.ccel import dstack_ccel

from cairn_agent.config import parse_config
from cairn_agent.evidence import MAX_CCEL_BYTES, read_ccel
from cairn_agent.startup import AgentState, build_state
from cairn_agent.tee.base import ProviderError
from cairn_verifier.checks import Check, Outcome, VerificationResult
from cairn_verifier.evidence.models import EvidenceBundle, dump_evidence, load_evidence
from cairn_verifier.evidence.policy import EvidencePolicy
from cairn_verifier.evidence.verify import EvidenceVerifyRequest, verify_evidence
from cairn_verifier.policy_document import CairnPolicy
from cairn_verifier.tdx.policy import TdxPolicy
from cairn_verifier.x509.cert import load_certificates

SYSTEM = "/nix/store/0c1i4g9kq7bhm8lcjj8h4pyf1r6b6nh9-nixos-system-cairn-25.11"
SYSFS_CCEL = Path("sys/firmware/acpi/tables/data/CCEL")


def _state(tmp_path: Path, ccel: bytes | None) -> AgentState:
    """An agent on a simulated TD, with a fake sysfs holding ``ccel`` (None: no CCEL table)."""
    path = tmp_path / SYSFS_CCEL
    if ccel is not None:
        path.parent.mkdir(parents=True)
        path.write_bytes(ccel)
    system = tmp_path / "current-system"
    system.symlink_to(SYSTEM)
    config = parse_config(
        {
            "tee": {"provider": "simulated-tdx", "ccel": str(path)},
            "tpm": {"enabled": False, "required": False},
            "system": {"path": str(system)},
            "state": {"directory": str(tmp_path / "state")},
        }
    )
    return build_state(config)


def _verify(
    state: AgentState, bundle: EvidenceBundle, nonce: bytes, tdx: TdxPolicy | None = None
) -> VerificationResult:
    roots = tuple(load_certificates(state.source.provider.trust_root_pem()))  # type: ignore[attr-defined]
    policy = CairnPolicy(evidence=EvidencePolicy(require_tpm=False), tdx=tdx or TdxPolicy())
    request = EvidenceVerifyRequest(
        nonce=nonce, at=datetime.now(UTC), simulated_roots=roots, policy=policy
    )
    return verify_evidence(bundle, request)


def _event_log_check(result: VerificationResult) -> Check:
    (check,) = [c for c in result.checks if c.name == "rtmr-event-log"]
    return check


@pytest.fixture
def with_ccel(tmp_path: Path, testdata: Path) -> AgentState:
    return _state(tmp_path, dstack_ccel(testdata))


def test_the_ccel_travels_in_a_version_2_bundle_and_verifies(
    with_ccel: AgentState, testdata: Path
) -> None:
    assert with_ccel.self_check["status"] == "passed", with_ccel.self_check
    nonce = secrets.token_bytes(32)
    bundle = with_ccel.source.collect(nonce, with_ccel.inventory.current())
    assert bundle.version == 2 and bundle.tee.event_log == dstack_ccel(testdata)
    reread = load_evidence(dump_evidence(bundle))
    assert reread == bundle
    result = _verify(with_ccel, reread, nonce)
    assert result.ok, [c for c in result.checks if c.outcome is Outcome.FAIL]
    check = _event_log_check(result)
    assert check.outcome is Outcome.PASS
    assert check.summary.startswith("the event log replays to the quote's RTMR[0], RTMR[1]")
    boot = result.claims["tee"]["measured_boot"]
    assert boot["rtmrs"] == ["RTMR[0]", "RTMR[1]", "RTMR[2]"]
    # the [tdx] policy pins the kernel by its event, here from the bundle's CCEL
    (kernel,) = boot["kernel_sha384"]
    pinned = _verify(with_ccel, reread, nonce, TdxPolicy(kernel_sha384=(bytes.fromhex(kernel),)))
    assert pinned.ok and "kernel-sha384" in {c.name for c in pinned.checks}
    other = _verify(with_ccel, reread, nonce, TdxPolicy(kernel_sha384=(bytes(48),)))
    assert other.exit_code == 1


def test_without_a_ccel_the_bundle_stays_version_1(tmp_path: Path) -> None:
    state = _state(tmp_path, None)
    nonce = secrets.token_bytes(32)
    bundle = state.source.collect(nonce, state.inventory.current())
    assert (bundle.version, bundle.tee.event_log) == (1, None)
    assert "event_log" not in json.loads(dump_evidence(bundle))["tee"]
    result = _verify(state, bundle, nonce)
    assert result.ok and not [c for c in result.checks if c.name == "rtmr-event-log"]


def _tampered(state: AgentState, change: Any) -> VerificationResult:
    nonce = secrets.token_bytes(32)
    document = json.loads(dump_evidence(state.source.collect(nonce, state.inventory.current())))
    ccel = bytearray(base64.b64decode(document["tee"]["event_log"]))
    change(ccel)
    document["tee"]["event_log"] = base64.b64encode(bytes(ccel)).decode()
    return _verify(state, load_evidence(json.dumps(document).encode()), nonce)


def test_a_ccel_altered_in_the_bundle_fails(with_ccel: AgentState) -> None:
    def flip_last_digest(ccel: bytearray) -> None:
        end = ccel.rstrip(b"\xff")
        ccel[len(end) - 4 - 40 - 1] ^= 0x01  # the last digest's last byte (data: 40 bytes)

    result = _tampered(with_ccel, flip_last_digest)
    check = _event_log_check(result)
    assert (result.exit_code, check.outcome, check.category) == (1, Outcome.FAIL, 1)
    assert "does not replay to the quote's RTMR[1]" in check.summary
    assert "measured_boot" not in result.claims["tee"]


def test_an_unreadable_ccel_in_the_bundle_fails_with_10(with_ccel: AgentState) -> None:
    def garble(ccel: bytearray) -> None:
        ccel[0:8] = b"\x07" * 8

    result = _tampered(with_ccel, garble)
    check = _event_log_check(result)
    assert (check.outcome, check.category) == (Outcome.FAIL, 10)
    assert check.summary.startswith("tee.event_log cannot be read as a CCEL")
    # the quote is verified all the same
    assert {c.name for c in result.checks if c.outcome is Outcome.FAIL} == {"rtmr-event-log"}


def test_a_ccel_is_read_within_the_bundles_limit(tmp_path: Path) -> None:
    assert read_ccel(None) is None
    assert read_ccel(tmp_path / "missing") is None
    (tmp_path / "empty").write_bytes(b"")
    assert read_ccel(tmp_path / "empty") is None
    (tmp_path / "huge").write_bytes(b"\xff" * (MAX_CCEL_BYTES + 1))
    with pytest.raises(ProviderError, match="larger than"):
        read_ccel(tmp_path / "huge")
