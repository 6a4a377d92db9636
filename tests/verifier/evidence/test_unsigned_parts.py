"""Parts of an evidence bundle that no verified signature covers are never silently trusted:
certificates beside a TDX quote, the TPM event log, a GPU digest, collateral beside an SNP report.
Bundles come from a real agent (swtpm + simulated TEE trusted explicitly)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fakes.agent_server import AgentBundle

from cairn_verifier.checks import Check, Outcome, VerificationResult
from cairn_verifier.errors import ExitCode, MalformedInputError
from cairn_verifier.evidence.models import load_evidence
from cairn_verifier.policy_document import CairnPolicy


def _check(result: VerificationResult, name: str) -> Check:
    return next(c for c in result.checks if c.name == name)


def test_an_untouched_tdx_bundle_verifies_and_its_certificates_are_the_quotes(
    tdx_agent_bundle: AgentBundle,
) -> None:
    result = tdx_agent_bundle.verify()
    assert result.exit_code is ExitCode.OK, result.to_json()
    assert _check(result, "tee-certificates").outcome is Outcome.PASS


def test_other_certificates_beside_a_tdx_quote_are_rejected(
    tdx_agent_bundle: AgentBundle, snp_agent_bundle: AgentBundle
) -> None:
    """Before: tee.certificates of a TDX bundle were ignored without a word."""
    foreign = snp_agent_bundle.document["tee"]["certificates"]

    def swap(document: dict[str, Any]) -> None:
        document["tee"]["certificates"] = foreign

    result = tdx_agent_bundle.verify(tdx_agent_bundle.changed(swap))
    check = _check(result, "tee-certificates")
    assert check.outcome is Outcome.FAIL
    assert "not used and not trusted" in check.summary
    assert result.exit_code is ExitCode.MALFORMED_INPUT


def test_an_event_log_the_quote_does_not_cover_is_named_as_not_trusted(
    snp_agent_bundle: AgentBundle,
) -> None:
    """64 zero bytes read as a SHA-1 log of two events on PCR 0; the quote covers SHA-256 PCRs
    only, so nothing in the log is replayed against a signed value (test_event_log_check.py
    has the real logs)."""

    def add_log(document: dict[str, Any]) -> None:
        document["tpm"]["event_log"] = base64.b64encode(b"\x00" * 64).decode()

    result = snp_agent_bundle.verify(snp_agent_bundle.changed(add_log))
    check = _check(result, "tpm-event-log")
    assert check.outcome is Outcome.SKIP
    assert "in the log: sha1:0): nothing in it is covered" in check.summary
    assert result.exit_code is ExitCode.OK  # the quote still proves the PCRs


def test_a_gpu_digest_without_gpu_evidence_fails(snp_agent_bundle: AgentBundle) -> None:
    def add_gpu(document: dict[str, Any]) -> None:
        document["claims"]["gpu_digest"] = "ab" * 32

    result = snp_agent_bundle.verify(snp_agent_bundle.changed(add_gpu))
    check = _check(result, "gpu-evidence")
    assert check.outcome is Outcome.FAIL and check.category is ExitCode.CONTENT_MISMATCH
    assert "carries no GPU evidence" in check.summary
    # It is not in the agent's REPORT_DATA either: the binding rejects the changed claims.
    assert _check(result, "report-data").outcome is Outcome.FAIL


def test_gpu_device_counts_without_gpu_evidence_are_a_policy_rejection(
    snp_agent_bundle: AgentBundle,
) -> None:
    result = snp_agent_bundle.verify()
    assert result.exit_code is ExitCode.OK
    assert not any(c.name.startswith("gpu") for c in result.checks)  # no GPUs, none asked for
    policy = CairnPolicy.model_validate({"gpu": {"device_counts": {"GH100": 8}}})
    result = snp_agent_bundle.verify(policy=policy)
    check = _check(result, "gpu-evidence")
    assert check.outcome is Outcome.FAIL and check.category is ExitCode.POLICY_REJECTED
    assert "expect 8 devices" in check.summary
    assert result.exit_code is ExitCode.POLICY_REJECTED


def test_collateral_beside_an_snp_report_is_malformed(snp_agent_bundle: AgentBundle) -> None:
    def add_collateral(document: dict[str, Any]) -> None:
        document["tee"]["collateral"] = base64.b64encode(b"{}").decode()

    document = snp_agent_bundle.changed(add_collateral)
    with pytest.raises(MalformedInputError, match="collateral is defined for TDX quotes only"):
        load_evidence(json.dumps(document).encode())
