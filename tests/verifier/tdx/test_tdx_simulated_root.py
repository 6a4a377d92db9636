"""``trusted_root`` / ``--trust-simulated-root`` for TDX: a simulated root replaces Intel's pinned
root everywhere only when named explicitly, loudly labelled; real quotes never use it."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cairn_agent.tee.base import TeeEvidence
from cairn_agent.tee.simulated_tdx import SimulatedTdxProvider
from cairn_verifier.binding.report_data import ReportDataInputs, report_data_v1
from cairn_verifier.binding.services import build_service_tree
from cairn_verifier.binding.system_hash import system_hash
from cairn_verifier.checks import Outcome, VerificationResult
from cairn_verifier.cli.main import main
from cairn_verifier.errors import ExitCode
from cairn_verifier.evidence.models import load_evidence
from cairn_verifier.evidence.policy import EvidencePolicy
from cairn_verifier.evidence.verify import EvidenceVerifyRequest, verify_evidence
from cairn_verifier.policy_document import CairnPolicy
from cairn_verifier.tdx.collateral import TdxCollateral, load_collateral_path
from cairn_verifier.tdx.quote import parse_quote
from cairn_verifier.tdx.verify import (
    SIMULATED_ROOT_SUMMARY,
    TdxVerifyRequest,
    pinned_intel_root,
    verify_tdx_quote,
)
from cairn_verifier.x509.cert import Certificate, parse_certificate

NONCE = bytes(range(200, 232))
SYSTEM = "/nix/store/0c1i4g9kq7bhm8lcjj8h4pyf1r6b6nh9-nixos-system-cairn-25.11"


def _report_data() -> bytes:
    return report_data_v1(
        ReportDataInputs(
            nonce=NONCE, system_hash=system_hash(SYSTEM), tree_root=build_service_tree([]).root
        )
    )


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> SimulatedTdxProvider:
    return SimulatedTdxProvider(tmp_path_factory.mktemp("tdx-state"))


@pytest.fixture(scope="module")
def evidence(provider: SimulatedTdxProvider) -> TeeEvidence:
    return provider.get_evidence(_report_data())


@pytest.fixture(scope="module")
def root(evidence: TeeEvidence) -> Certificate:
    return parse_certificate(evidence.certificates[-1])


@pytest.fixture(scope="module")
def collateral(provider: SimulatedTdxProvider) -> TdxCollateral:
    return provider.collateral()


def _verify(quote: bytes, collateral: TdxCollateral, **fields: Any) -> VerificationResult:
    request = TdxVerifyRequest(at=datetime.now(UTC), collateral=collateral, **fields)
    return verify_tdx_quote(parse_quote(quote), request)


def _failed(result: VerificationResult) -> list[str]:
    return [c.name for c in result.checks if c.outcome is Outcome.FAIL]


def _check(result: VerificationResult, name: str) -> Any:
    return next(c for c in result.checks if c.name == name)


# ------------------------------------------------------------------------------- pipeline


def test_trusted_root_replaces_intels_everywhere(
    evidence: TeeEvidence, collateral: TdxCollateral, root: Certificate
) -> None:
    result = _verify(evidence.report, collateral, trusted_root=root)
    assert result.ok, _failed(result)
    assert _check(result, "pck-root-pinned").summary == SIMULATED_ROOT_SUMMARY
    for name in ("pck-ca-signature", "tcb-info-signature", "qe-identity-signature"):
        assert "--trust-simulated-root" in _check(result, name).summary
    assert "signed by Intel SGX Root CA" in _check(result, "root-ca-crl").summary
    assert result.warnings[0].startswith("SIMULATED")
    assert not any("genuine" in w for w in result.warnings)
    assert result.claims["simulated"] is True


def test_simulated_quote_fails_the_pinned_root_without_trust(
    evidence: TeeEvidence, collateral: TdxCollateral
) -> None:
    result = _verify(evidence.report, collateral)
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED
    assert _failed(result) == ["pck-root-pinned"]
    assert not result.warnings


def test_root_ca_crl_is_checked_against_the_trusted_root(
    evidence: TeeEvidence, collateral: TdxCollateral, root: Certificate, testdata: Path
) -> None:
    intel = load_collateral_path(testdata / "tdx/dcap-qvl/sample/tdx_quote_collateral.json")
    mixed = replace(collateral, root_ca_crl=intel.root_ca_crl)
    result = _verify(evidence.report, mixed, trusted_root=root)
    assert _failed(result) == ["root-ca-crl"]
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED


def test_real_intel_quote_fails_under_a_simulated_root(
    testdata: Path, root: Certificate, collateral: TdxCollateral
) -> None:
    quote = (testdata / "tdx/dcap-qvl/sample/tdx_quote").read_bytes()
    result = _verify(quote, collateral, trusted_root=root)
    assert _failed(result) == ["pck-root-pinned"]
    assert "--trust-simulated-root" in _check(result, "pck-root-pinned").summary


# ------------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def files(
    provider: SimulatedTdxProvider, evidence: TeeEvidence, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("tdx-cli")
    paths = {n: directory / n for n in ("quote.bin", "root.pem", "collateral.json", "ev.json")}
    paths["quote.bin"].write_bytes(evidence.report)
    provider.export_trust_root(paths["root.pem"])
    provider.export_collateral(paths["collateral.json"])
    paths["ev.json"].write_bytes(_bundle(evidence, "tdx-simulated"))
    return paths


def test_cli_verify_tdx_with_exported_root_and_collateral(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["verify", "tdx", str(files["quote.bin"]), "--offline", "--no-cache"]
    argv += ["--collateral", str(files["collateral.json"]), "--report-data", _report_data().hex()]
    assert main([*argv, "--json"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in doc["checks"] if c["outcome"] == "fail"] == ["pck-root-pinned"]
    assert main([*argv, "--trust-simulated-root", str(files["root.pem"])]) == 0
    text = capsys.readouterr().out
    assert "WARNING: SIMULATED" in text and "NOT an Intel key" in text


def test_cli_verify_evidence_with_simulated_root(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["verify", "evidence", str(files["ev.json"]), "--nonce", NONCE.hex(), "--offline"]
    argv += ["--no-cache", "--collateral", str(files["collateral.json"])]
    policy = files["ev.json"].parent / "policy.toml"
    policy.write_text("[evidence]\nrequire_tpm = false\n")
    argv += ["--policy", str(policy), "--json"]
    assert main(argv) == 3
    doc = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in doc["checks"] if c["outcome"] == "fail"] == ["tee-kind"]
    assert main([*argv, "--trust-simulated-root", str(files["root.pem"])]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] and doc["warnings"][0].startswith("SIMULATED EVIDENCE")


# -------------------------------------------------------------------------------- evidence


def _bundle(evidence: TeeEvidence, kind: str) -> bytes:
    document = {
        "format": "cairn-evidence",
        "version": 1,
        "tee": {"kind": kind, "report": base64.b64encode(evidence.report).decode()},
        "tpm": None,
        "claims": {
            "nonce": NONCE.hex(),
            "system": {"store_path": SYSTEM, "hash": system_hash(SYSTEM).hex()},
            "services": [],
            "tree_root": f"{build_service_tree([]).root:064x}",
            "gpu_digest": None,
            "report_data_version": 1,
        },
        "agent": {"version": "test", "simulated": kind.endswith("-simulated")},
    }
    return json.dumps(document).encode()


def _verify_evidence(
    evidence: TeeEvidence, kind: str, collateral: TdxCollateral, *roots: Certificate
) -> VerificationResult:
    return verify_evidence(
        load_evidence(_bundle(evidence, kind)),
        EvidenceVerifyRequest(
            nonce=NONCE,
            at=datetime.now(UTC),
            policy=CairnPolicy(evidence=EvidencePolicy(require_tpm=False)),
            fetch_tdx_collateral=lambda _fmspc, _ca: collateral,
            simulated_roots=roots,
        ),
    )


def test_simulated_tdx_evidence_picks_the_root_that_issued_it(
    evidence: TeeEvidence, collateral: TdxCollateral, root: Certificate
) -> None:
    result = _verify_evidence(evidence, "tdx-simulated", collateral, pinned_intel_root(), root)
    assert result.ok, _failed(result)
    assert root.fingerprint_sha256.hex()[:16] in _check(result, "tee-kind").summary
    assert result.warnings[0].startswith("SIMULATED EVIDENCE")


def test_simulated_tdx_evidence_without_its_root_is_untrusted(
    evidence: TeeEvidence, collateral: TdxCollateral
) -> None:
    for roots in ((), (pinned_intel_root(),)):
        result = _verify_evidence(evidence, "tdx-simulated", collateral, *roots)
        assert _failed(result) == ["tee-kind"]
        assert result.exit_code is ExitCode.CHAIN_UNTRUSTED


def test_real_tdx_kind_never_uses_a_simulated_root(
    evidence: TeeEvidence, collateral: TdxCollateral, root: Certificate
) -> None:
    result = _verify_evidence(evidence, "tdx", collateral, root)
    assert _failed(result) == ["pck-root-pinned"]
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED
