"""The simulated Azure paravisor (``provider = "simulated-azure"``) end to end: it writes an HCL
report into swtpm's NV index over a simulated SEV-SNP report or TD quote and names swtpm's AK;
the agent serves the evidence; `cairn verify evidence` passes it only under the simulated root
and says what that means; and each link broken in the bundle fails its check."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fakes.agent_server import ServerThread, agent_config

from cairn_agent.app import AgentState, make_app
from cairn_agent.main import main as agent_main
from cairn_agent.startup import build_state
from cairn_agent.swtpm import running_swtpm
from cairn_verifier.checks import Outcome, VerificationResult
from cairn_verifier.cli.main import main
from cairn_verifier.errors import ExitCode
from cairn_verifier.evidence.models import dump_evidence, load_evidence
from cairn_verifier.evidence.verify import EvidenceVerifyRequest, verify_evidence
from cairn_verifier.x509.cert import Certificate

HCL_HEADER = 0x20
RSA_AK_ATTRIBUTES = 0x00050072


@dataclass
class AzureAgent:
    url: str
    state: AgentState
    workdir: Path
    platform: str

    @property
    def roots(self) -> tuple[Certificate, ...]:
        return self.state.source.provider.trust_roots()  # type: ignore[attr-defined,no-any-return]

    def root_file(self) -> Path:
        path = self.workdir / "root.pem"
        if not path.exists():
            self.state.source.provider.export_trust_root(path)  # type: ignore[attr-defined]
        return path

    def bundle(self, nonce: bytes) -> dict[str, Any]:
        collected = self.state.source.collect(nonce, self.state.inventory.current())
        document: dict[str, Any] = json.loads(dump_evidence(collected))
        return document

    def verify(self, document: dict[str, Any], nonce: bytes) -> VerificationResult:
        request = EvidenceVerifyRequest(
            nonce=nonce, at=datetime.now(UTC), simulated_roots=self.roots
        )
        return verify_evidence(load_evidence(json.dumps(document).encode()), request)


def _config(workdir: Path, tcti: str, platform: str) -> Any:
    config = agent_config(workdir, tcti, "simulated-azure")
    tee = config.tee.model_copy(update={"simulated_platform": platform})
    return config.model_copy(update={"tee": tee})


@pytest.fixture(scope="module", params=["sev-snp", "tdx"])
def azure(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AzureAgent]:
    """One agent per platform for the module (the tests only read from it)."""
    tmp_path = tmp_path_factory.mktemp(f"azure-{request.param}")
    with running_swtpm(tmp_path / "swtpm") as swtpm:
        state = build_state(_config(tmp_path, swtpm.tcti, request.param))
        assert state.self_check["status"] == "passed", state.self_check
        with ServerThread(make_app(state)) as url:
            yield AzureAgent(url, state, tmp_path, request.param)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--json", "--offline", "--no-cache"])
    return code, json.loads(capsys.readouterr().out)


def _check(result: VerificationResult, name: str) -> tuple[Outcome, ExitCode | None, str]:
    [check] = [c for c in result.checks if c.name == name]
    return check.outcome, check.category, check.summary


def _first_failure(result: VerificationResult) -> tuple[str, ExitCode | None]:
    failed = next(c for c in result.checks if c.outcome is Outcome.FAIL)
    return failed.name, failed.category


def test_fresh_evidence_verifies_under_the_simulated_root_and_says_so(
    azure: AzureAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(azure.root_file())
    code, doc = _cli(capsys, "verify", "evidence", azure.url, "--trust-simulated-root", root)
    assert code == 0, [c for c in doc["checks"] if c["outcome"] == "fail"]
    kind = f"azure-{'tdx' if azure.platform == 'tdx' else 'sev-snp'}-vtpm-simulated"
    assert doc["claims"]["tee_kind"] == kind
    warnings = " ".join(doc["warnings"])
    assert "SIMULATED EVIDENCE" in warnings and "SIMULATED AZURE" in warnings
    assert "nor the vTPM's attestation key is Azure's" in warnings
    passed = {c["name"] for c in doc["checks"] if c["outcome"] == "pass"}
    assert {
        "tee-kind",
        "azure-hcl-report",
        "azure-runtime-data",
        "report-data",
        "azure-ak",
        "tpm-quote-signature",
        "tpm-attestation-key",
        "tpm-quote-nonce",
        "azure-secure-boot",
        "azure-console",
    } <= passed
    assert ("azure-td-report" in passed) is (azure.platform == "tdx")
    assert ("azure-vmpl" in passed) is (azure.platform == "sev-snp")
    [nonce] = [c for c in doc["checks"] if c["name"] == "tpm-quote-nonce"]
    assert nonce["summary"] == "extraData matches the claims digest"


def test_without_the_simulated_root_nothing_is_trusted(
    azure: AzureAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = _cli(capsys, "verify", "evidence", azure.url)
    assert code == ExitCode.CHAIN_UNTRUSTED
    assert next(c["name"] for c in doc["checks"] if c["outcome"] == "fail") == "tee-kind"


def test_the_root_exported_is_the_simulated_platforms(azure: AzureAgent, tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    state_dir = azure.workdir / "state"
    config.write_text(
        f'[tee]\nprovider = "simulated-azure"\nsimulated_platform = "{azure.platform}"\n'
        f'[state]\ndirectory = "{state_dir}"\n'
    )
    target = tmp_path / "exported.pem"
    assert agent_main(["export-root", "--config", str(config), "-o", str(target)]) == 0
    assert target.read_bytes() == azure.root_file().read_bytes()


# --- each link broken ----------------------------------------------------------------------------


def _report(document: dict[str, Any]) -> bytearray:
    return bytearray(base64.b64decode(document["tee"]["report"]))


def _set_report(document: dict[str, Any], report: bytes) -> None:
    document["tee"]["report"] = base64.b64encode(report).decode()


def test_a_runtime_data_byte_changed_breaks_the_hardware_binding(azure: AzureAgent) -> None:
    nonce = secrets.token_bytes(32)
    document = azure.bundle(nonce)
    report = _report(document)
    at = report.index(b'"vmUniqueId":"') + len('"vmUniqueId":"')
    report[at] ^= 1  # a hex digit: still valid runtime data
    _set_report(document, bytes(report))
    result = azure.verify(document, nonce)
    assert _check(result, "azure-runtime-data")[0] is Outcome.PASS
    assert _check(result, "report-data")[:2] == (Outcome.FAIL, ExitCode.CONTENT_MISMATCH)
    assert _first_failure(result) == ("report-data", ExitCode.CONTENT_MISMATCH)


def _rsa_tpmt_public(key: rsa.RSAPublicKey) -> bytes:
    modulus = key.public_numbers().n.to_bytes(256, "big")
    return (
        struct.pack(">HHIH", 0x0001, 0x000B, RSA_AK_ATTRIBUTES, 0)
        + struct.pack(">HHHHI", 0x0010, 0x0014, 0x000B, 2048, 0)
        + struct.pack(">H", len(modulus))
        + modulus
    )


def test_a_swapped_attestation_key_is_not_hclakpub(azure: AzureAgent) -> None:
    """Another RSA AK put in tpm.ak_public, with the quote re-signed by it: the quote verifies
    with the key given, but that key is not the one the hardware report vouches for (exit 1)."""
    nonce = secrets.token_bytes(32)
    document = azure.bundle(nonce)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attest = base64.b64decode(document["tpm"]["quote"])
    signature = other.sign(attest, padding.PKCS1v15(), hashes.SHA256())
    tpmt = _rsa_tpmt_public(other.public_key())
    document["tpm"]["ak_public"] = base64.b64encode(tpmt).decode()
    document["tpm"]["signature"] = base64.b64encode(
        struct.pack(">HHH", 0x0014, 0x000B, len(signature)) + signature
    ).decode()
    result = azure.verify(document, nonce)
    assert _first_failure(result) == ("azure-ak", ExitCode.CONTENT_MISMATCH)
    assert _check(result, "tpm-quote-signature")[0] is Outcome.PASS


def test_a_quote_from_another_ak_fails_its_signature(azure: AzureAgent) -> None:
    """The quote signed by a key that is not the bundle's AK (which is HCLAkPub): exit 2."""
    nonce = secrets.token_bytes(32)
    document = azure.bundle(nonce)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signature = other.sign(
        base64.b64decode(document["tpm"]["quote"]), padding.PKCS1v15(), hashes.SHA256()
    )
    document["tpm"]["signature"] = base64.b64encode(
        struct.pack(">HHH", 0x0014, 0x000B, len(signature)) + signature
    ).decode()
    result = azure.verify(document, nonce)
    assert _check(result, "azure-ak")[0] is Outcome.PASS
    assert _first_failure(result) == ("tpm-quote-signature", ExitCode.SIGNATURE_INVALID)


def test_a_quote_made_for_other_claims_fails_the_claims_digest(azure: AzureAgent) -> None:
    """Evidence for nonce A re-labelled with nonce B: the claims now answer B, but the quote's
    extraData is the digest of the claims for A (exit 1) — and a verifier asking with A sees
    its nonce check fail first."""
    first, second = secrets.token_bytes(32), secrets.token_bytes(32)
    document = azure.bundle(first)
    relabelled = copy.deepcopy(document)
    relabelled["claims"]["nonce"] = second.hex()
    result = azure.verify(relabelled, second)
    outcome, category, summary = _check(result, "tpm-quote-nonce")
    assert (outcome, category) == (Outcome.FAIL, ExitCode.CONTENT_MISMATCH)
    assert "does not match the claims digest" in summary
    assert _first_failure(result) == ("tpm-quote-nonce", ExitCode.CONTENT_MISMATCH)
    assert _first_failure(azure.verify(document, second)) == ("nonce", ExitCode.CONTENT_MISMATCH)


@pytest.mark.parametrize("azure", ["tdx"], indirect=True)
def test_a_td_report_that_is_not_the_quotes_fails(azure: AzureAgent) -> None:
    nonce = secrets.token_bytes(32)
    document = azure.bundle(nonce)
    report = _report(document)
    tdinfo = HCL_HEADER + 512
    report[tdinfo + 16 + 48 * 4 + 48 * 3] ^= 0xFF  # RTMR3
    report[HCL_HEADER + 80 : HCL_HEADER + 128] = hashlib.sha384(
        bytes(report[tdinfo : tdinfo + 512])
    ).digest()
    _set_report(document, bytes(report))
    result = azure.verify(document, nonce)
    outcome, category, summary = _check(result, "azure-td-report")
    assert (outcome, category) == (Outcome.FAIL, ExitCode.CONTENT_MISMATCH)
    assert "RTMR3" in summary
    assert _first_failure(result) == ("azure-td-report", ExitCode.CONTENT_MISMATCH)
