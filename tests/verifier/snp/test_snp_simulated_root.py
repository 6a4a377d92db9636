"""``trusted_root`` / ``--trust-simulated-root`` for SEV-SNP: a simulated ARK is accepted only
when named explicitly, loudly labelled, and never for evidence that claims to be real."""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cairn_agent.tee.base import TeeEvidence
from cairn_agent.tee.simulated_snp import SimulatedSnpProvider
from cairn_verifier.binding.report_data import ReportDataInputs, report_data_v1
from cairn_verifier.binding.services import ServiceEntry, build_service_tree
from cairn_verifier.binding.system_hash import system_hash
from cairn_verifier.checks import Outcome, VerificationResult
from cairn_verifier.cli.main import main
from cairn_verifier.errors import ExitCode
from cairn_verifier.evidence.models import load_evidence
from cairn_verifier.evidence.policy import EvidencePolicy
from cairn_verifier.evidence.verify import EvidenceVerifyRequest, verify_evidence
from cairn_verifier.policy_document import CairnPolicy
from cairn_verifier.snp.certs import CertCollection
from cairn_verifier.snp.product import ProductLine
from cairn_verifier.snp.roots import pinned_ark
from cairn_verifier.snp.verify import (
    SIMULATED_ROOT_SUMMARY,
    SnpVerifyRequest,
    verify_snp_report,
)
from cairn_verifier.x509.cert import Certificate, parse_certificate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vectors import by_name

NONCE = bytes(range(100, 132))
SYSTEM = "/nix/store/0c1i4g9kq7bhm8lcjj8h4pyf1r6b6nh9-nixos-system-cairn-25.11"
SERVICE = ServiceEntry(
    "echo-rust",
    "/nix/store/2j3nqrz5kbyy0m1q3yqdqzq1m1xw8w8k-echo-rust-0.1.0",
    ec.derive_private_key(7, ec.SECP256K1())
    .public_key()
    .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint),
)


def _report_data() -> bytes:
    return report_data_v1(
        ReportDataInputs(
            nonce=NONCE,
            system_hash=system_hash(SYSTEM),
            tree_root=build_service_tree([SERVICE]).root,
        )
    )


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> SimulatedSnpProvider:
    return SimulatedSnpProvider(tmp_path_factory.mktemp("snp-state"))


@pytest.fixture(scope="module")
def evidence(provider: SimulatedSnpProvider) -> TeeEvidence:
    return provider.get_evidence(_report_data())


@pytest.fixture(scope="module")
def chain(evidence: TeeEvidence) -> list[Certificate]:
    return [parse_certificate(der) for der in evidence.certificates]


def _request(chain: list[Certificate], **fields: Any) -> SnpVerifyRequest:
    return SnpVerifyRequest(
        at=datetime.now(UTC), certs=CertCollection.from_certificates(chain), **fields
    )


def _failed(result: VerificationResult) -> list[str]:
    return [c.name for c in result.checks if c.outcome is Outcome.FAIL]


def _check(result: VerificationResult, name: str) -> Any:
    return next(c for c in result.checks if c.name == name)


# ------------------------------------------------------------------------------- pipeline


def test_trusted_simulated_ark_verifies_with_a_loud_label(
    evidence: TeeEvidence, chain: list[Certificate]
) -> None:
    result = verify_snp_report(evidence.report, _request(chain, trusted_root=chain[2]))
    assert result.ok, _failed(result)
    assert _check(result, "ark-pinned").summary == SIMULATED_ROOT_SUMMARY
    assert result.warnings[0].startswith("SIMULATED")
    assert not any("genuine" in w for w in result.warnings)
    revocation = _check(result, "revocation")
    assert revocation.outcome is Outcome.SKIP and "simulated" in revocation.summary


def test_simulated_chain_fails_the_pinned_ark_without_trust(
    evidence: TeeEvidence, chain: list[Certificate]
) -> None:
    for trusted in (None, pinned_ark(ProductLine.GENOA)):
        result = verify_snp_report(evidence.report, _request(chain, trusted_root=trusted))
        assert result.exit_code is ExitCode.CHAIN_UNTRUSTED
        assert _failed(result) == ["ark-pinned"]
        assert not result.warnings


def test_simulated_ark_needs_the_supplied_intermediate(
    evidence: TeeEvidence, chain: list[Certificate]
) -> None:
    vcek, _, ark = chain
    result = verify_snp_report(evidence.report, _request([vcek, ark], trusted_root=ark))
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED
    assert _failed(result) == ["intermediate-signature"]


def test_a_simulated_root_requires_crl_when_the_policy_does(
    evidence: TeeEvidence, chain: list[Certificate]
) -> None:
    request = _request(chain, trusted_root=chain[2])
    policy = request.policy.model_copy(update={"require_crl": True})
    result = verify_snp_report(evidence.report, replace(request, policy=policy))
    assert _failed(result) == ["revocation"]
    assert result.exit_code is ExitCode.COLLATERAL_UNAVAILABLE


def test_real_amd_evidence_is_unaffected_by_a_simulated_root(
    testdata: Path, chain: list[Certificate]
) -> None:
    vector = by_name(testdata, "oak/genoa_oc")
    assert vector.at is not None
    certs = CertCollection.from_certificates([parse_certificate(c) for c in vector.certs])
    request = SnpVerifyRequest(at=vector.at, certs=certs, trusted_root=chain[2])
    result = verify_snp_report(vector.report, request)
    assert result.ok, _failed(result)
    assert "pinned by SHA-256" in _check(result, "ark-pinned").summary
    assert not any("SIMULATED" in w for w in result.warnings)


# ------------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def files(
    provider: SimulatedSnpProvider, evidence: TeeEvidence, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("snp-cli")
    paths = {name: directory / name for name in ("report.bin", "certs.pem", "root.pem")}
    paths["report.bin"].write_bytes(evidence.report)
    paths["certs.pem"].write_bytes(
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in (provider.vcek, provider.ask, provider.ark)
        )
    )
    provider.export_trust_root(paths["root.pem"])
    return paths


def _cli(files: dict[str, Path], *extra: str) -> list[str]:
    return [
        "verify",
        "snp",
        str(files["report.bin"]),
        "--certs",
        str(files["certs.pem"]),
        "--offline",
        "--no-cache",
        "--report-data",
        _report_data().hex(),
        *extra,
    ]


def test_cli_trusts_the_root_only_when_named(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_cli(files, "--json")) == 3
    doc = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in doc["checks"] if c["outcome"] == "fail"] == ["ark-pinned"]
    assert main(_cli(files, "--trust-simulated-root", str(files["root.pem"]))) == 0
    text = capsys.readouterr().out
    assert "WARNING: SIMULATED" in text and "NOT an AMD key" in text
    assert "Result: VERIFIED" in text


def test_cli_rejects_a_simulated_root_that_is_not_a_root(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(_cli(files, "--trust-simulated-root", str(files["certs.pem"]))) == 3
    assert "not a self-signed root" in capsys.readouterr().err
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    assert main(_cli(files, "--trust-simulated-root", str(junk))) == 10
    capsys.readouterr()


# -------------------------------------------------------------------------------- evidence


def _bundle(evidence: TeeEvidence, kind: str) -> bytes:
    document = {
        "format": "cairn-evidence",
        "version": 1,
        "tee": {
            "kind": kind,
            "report": base64.b64encode(evidence.report).decode(),
            "certificates": [base64.b64encode(c).decode() for c in evidence.certificates],
        },
        "tpm": None,
        "claims": {
            "nonce": NONCE.hex(),
            "system": {"store_path": SYSTEM, "hash": system_hash(SYSTEM).hex()},
            "services": [
                {
                    "name": SERVICE.name,
                    "store_path": SERVICE.store_path,
                    "public_key": SERVICE.public_key.hex(),
                }
            ],
            "tree_root": f"{build_service_tree([SERVICE]).root:064x}",
            "gpu_digest": None,
            "report_data_version": 1,
        },
        "agent": {"version": "test", "simulated": kind.endswith("-simulated")},
    }
    return json.dumps(document).encode()


def _verify_evidence(evidence: TeeEvidence, kind: str, *roots: Certificate) -> VerificationResult:
    return verify_evidence(
        load_evidence(_bundle(evidence, kind)),
        EvidenceVerifyRequest(
            nonce=NONCE,
            at=datetime.now(UTC),
            policy=CairnPolicy(evidence=EvidencePolicy(require_tpm=False)),
            simulated_roots=roots,
        ),
    )


def test_simulated_evidence_verifies_with_its_root(
    evidence: TeeEvidence, chain: list[Certificate]
) -> None:
    other = pinned_ark(ProductLine.MILAN)
    result = _verify_evidence(evidence, "sev-snp-simulated", other, chain[2])
    assert result.ok, _failed(result)
    assert "SIMULATED" in _check(result, "tee-kind").summary
    assert result.warnings[0].startswith("SIMULATED EVIDENCE")
    assert _check(result, "report-data").outcome is Outcome.PASS


def test_simulated_evidence_without_its_root_is_untrusted(evidence: TeeEvidence) -> None:
    for roots in ((), (pinned_ark(ProductLine.GENOA),)):
        result = _verify_evidence(evidence, "sev-snp-simulated", *roots)
        assert _failed(result) == ["tee-kind"]
        assert result.exit_code is ExitCode.CHAIN_UNTRUSTED


def test_real_kind_never_uses_a_simulated_root(
    evidence: TeeEvidence, chain: list[Certificate]
) -> None:
    result = _verify_evidence(evidence, "sev-snp", chain[2])
    assert _failed(result) == ["ark-pinned"]
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED
