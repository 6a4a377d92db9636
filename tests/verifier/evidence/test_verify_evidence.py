"""`cairn verify evidence` on bundles built from real parts: a real SEV-SNP report with its AMD
chain, a real swtpm quote over the verifier's nonce, and claims computed by the binding library.

A real report's REPORT_DATA was made by someone else, so these bundles can never fully verify
(that needs the agent's simulated TEE, trusted explicitly); what they prove is that every other
check runs for real and that the binding check is what rejects them, with exit code 1.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fakes.swtpm import Quote, running_swtpm

from cairn_verifier.binding.services import ServiceEntry, build_service_tree
from cairn_verifier.binding.system_hash import system_hash
from cairn_verifier.checks import Outcome, VerificationResult
from cairn_verifier.cli.main import main
from cairn_verifier.errors import ExitCode
from cairn_verifier.evidence.models import load_evidence
from cairn_verifier.evidence.policy import EvidencePolicy, ServiceRule
from cairn_verifier.evidence.verify import EvidenceVerifyRequest, verify_evidence
from cairn_verifier.policy_document import CairnPolicy
from cairn_verifier.x509.cert import parse_certificate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "snp"))
from vectors import SnpVector, by_name

NONCE = bytes(range(32))
SYSTEM = "/nix/store/0c1i4g9kq7bhm8lcjj8h4pyf1r6b6nh9-nixos-system-cairn-25.11"
SERVICES = {
    "echo-cpp": "/nix/store/1g6cq2ic1x7alnmpmzb7nl8xg3c9y7m5-echo-cpp-0.1.0",
    "echo-rust": "/nix/store/2j3nqrz5kbyy0m1q3yqdqzq1m1xw8w8k-echo-rust-0.1.0",
}


def _public_key(seed: int) -> bytes:
    key = ec.derive_private_key(seed, ec.SECP256K1())
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _document(vector: SnpVector, quote: Quote | None, **claim_overrides: Any) -> dict[str, Any]:
    services = [
        {"name": name, "store_path": path, "public_key": _public_key(i + 1).hex()}
        for i, (name, path) in enumerate(sorted(SERVICES.items()))
    ]
    entries = [
        ServiceEntry(s["name"], s["store_path"], bytes.fromhex(s["public_key"])) for s in services
    ]
    claims: dict[str, Any] = {
        "nonce": NONCE.hex(),
        "system": {"store_path": SYSTEM, "hash": system_hash(SYSTEM).hex()},
        "services": services,
        "tree_root": f"{build_service_tree(entries).root:064x}",
        "gpu_digest": None,
        "report_data_version": 1,
    }
    claims.update(claim_overrides)
    tpm = None
    if quote is not None:
        tpm = {
            "quote": _b64(quote.attest),
            "signature": _b64(quote.signature),
            "ak_public": _b64(quote.ak_public),
            "pcrs": {"sha256": {str(i): v.hex() for (bank, i), v in quote.pcr_values.items()}},
            "event_log": None,
        }
    return {
        "format": "cairn-evidence",
        "version": 1,
        "tee": {
            "kind": "sev-snp",
            "report": _b64(vector.report),
            "certificates": [_b64(c) for c in vector.certs],
        },
        "tpm": tpm,
        "claims": claims,
        "agent": {"version": "test", "simulated": False},
    }


@pytest.fixture(scope="module")
def quote(tmp_path_factory: pytest.TempPathFactory) -> Quote:
    with running_swtpm(tmp_path_factory.mktemp("evidence-tpm")) as tpm:
        ak = tpm.create_key("ak", "ecc256:ecdsa-sha256:null")
        return tpm.quote(ak, "sha256:0,1,2,7", NONCE)


@pytest.fixture(scope="module")
def vector(testdata: Path) -> SnpVector:
    return by_name(testdata, "oak/genoa_oc")


def _verify(doc: dict[str, Any], vector: SnpVector, **request: Any) -> VerificationResult:
    bundle = load_evidence(json.dumps(doc).encode())
    assert vector.at is not None
    fields: dict[str, Any] = {"nonce": NONCE, "at": vector.at}
    fields.update(request)
    return verify_evidence(bundle, EvidenceVerifyRequest(**fields))


def _failed(result: VerificationResult) -> list[str]:
    return [c.name for c in result.checks if c.outcome is Outcome.FAIL]


def _passed(result: VerificationResult) -> set[str]:
    return {c.name for c in result.checks if c.outcome is Outcome.PASS}


def test_real_parts_verify_and_the_binding_rejects_foreign_report_data(
    vector: SnpVector, quote: Quote
) -> None:
    result = _verify(_document(vector, quote), vector)
    assert _failed(result) == ["report-data"]
    assert result.exit_code is ExitCode.CONTENT_MISMATCH
    assert {
        "nonce",
        "system-hash",
        "service-tree",
        "report-signature",
        "leaf-signature",
    } <= _passed(result)
    assert {
        "tpm-quote-signature",
        "tpm-attestation-key",
        "tpm-quote-nonce",
        "tpm-pcr-digest",
    } <= _passed(result)


def test_a_stale_nonce_is_named(vector: SnpVector, quote: Quote) -> None:
    result = _verify(_document(vector, quote), vector, nonce=bytes(32))
    assert _failed(result)[0] == "nonce"
    assert result.exit_code is ExitCode.CONTENT_MISMATCH


def test_a_changed_service_list_is_named(vector: SnpVector, quote: Quote) -> None:
    doc = _document(vector, quote)
    doc["claims"]["services"][0]["public_key"] = _public_key(99).hex()  # key swapped, root kept
    result = _verify(doc, vector)
    assert _failed(result)[0] == "service-tree"


def test_a_wrong_system_hash_is_named(vector: SnpVector, quote: Quote) -> None:
    doc = _document(vector, quote)
    doc["claims"]["system"]["hash"] = system_hash(SYSTEM + "x").hex()
    assert _failed(_verify(doc, vector))[0] == "system-hash"


def test_tpm_quote_over_another_nonce_is_rejected(vector: SnpVector, quote: Quote) -> None:
    other = bytes(reversed(NONCE))
    doc = _document(vector, quote, nonce=other.hex())
    result = _verify(doc, vector, nonce=other)
    assert "tpm-quote-nonce" in _failed(result)


def test_missing_tpm_is_a_policy_decision(vector: SnpVector) -> None:
    assert "tpm-quote" in _failed(_verify(_document(vector, None), vector))
    relaxed = CairnPolicy(evidence=EvidencePolicy(require_tpm=False))
    result = _verify(_document(vector, None), vector, policy=relaxed)
    assert "tpm-quote" not in _failed(result)


def test_evidence_policy(vector: SnpVector, quote: Quote) -> None:
    pcr0 = quote.pcr_values[("sha256", 0)]
    policy = CairnPolicy(
        evidence=EvidencePolicy(
            system_store_paths=(SYSTEM,),
            required_services=("echo-cpp", "echo-rust", "redis"),
            services={"echo-cpp": ServiceRule(public_keys=(_public_key(1),))},
            pcrs={"sha256": {0: pcr0, 7: b"\x01" * 32}},  # swtpm leaves PCR 7 all zero
        )
    )
    failed = _failed(_verify(_document(vector, quote), vector, policy=policy))
    assert "required-services" in failed  # redis is not attested
    assert "service-echo-rust" in failed  # not listed and unlisted services are not allowed
    assert "service-echo-cpp" not in failed
    assert "pcr-sha256-7" in failed and "pcr-sha256-0" not in failed
    assert "system-store-path" not in failed


def _besides_the_self_reported_system(warnings: tuple[str, ...] | list[str]) -> list[str]:
    """The warnings other than SELF-REPORTED SYSTEM, which every bundle without reference values
    carries since the system claim is checked against the measured command line."""
    return [w for w in warnings if not w.startswith("SELF-REPORTED SYSTEM:")]


def test_simulated_evidence_is_not_trusted(vector: SnpVector, quote: Quote) -> None:
    doc = _document(vector, quote)
    doc["tee"]["kind"] = "sev-snp-simulated"
    doc["agent"]["simulated"] = True
    result = _verify(doc, vector)
    assert "tee-kind" in _failed(result)
    assert ExitCode.CHAIN_UNTRUSTED in {c.category for c in result.checks}
    # Issue 10 item 5: the warning must not claim a root was trusted when none was.
    (warning,) = _besides_the_self_reported_system(result.warnings)
    assert "you trusted" not in warning
    assert "was NOT trusted (no --trust-simulated-root was given)" in warning


def _self_signed_root() -> bytes:
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "unrelated simulated root")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=3650))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA384())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def test_a_simulated_root_that_did_not_issue_the_chain_is_not_claimed_trusted(
    vector: SnpVector, quote: Quote
) -> None:
    doc = _document(vector, quote)
    doc["tee"]["kind"] = "sev-snp-simulated"
    doc["agent"]["simulated"] = True
    unrelated = parse_certificate(_self_signed_root())
    result = _verify(doc, vector, simulated_roots=(unrelated,))
    assert _failed(result)[0] == "tee-kind"
    (warning,) = _besides_the_self_reported_system(result.warnings)
    assert "you trusted" not in warning
    assert "none of the 1 --trust-simulated-root certificate(s) issued its chain" in warning


def test_cli_verify_evidence_and_tree_proofs(
    vector: SnpVector, quote: Quote, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "evidence.json"
    bundle.write_text(json.dumps(_document(vector, quote)))
    assert vector.at is not None
    argv = ["verify", "evidence", str(bundle), "--offline", "--at", vector.at.isoformat(), "--json"]
    assert main(argv) == 64  # no nonce: freshness cannot be proven (a usage error)
    capsys.readouterr()
    assert main([*argv, "--nonce", NONCE.hex()]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in doc["checks"] if c["outcome"] == "fail"] == ["report-data"]

    proof = tmp_path / "proof.json"
    assert main(["tree", "proof", str(bundle), "echo-rust"]) == 0
    proof.write_text(capsys.readouterr().out)
    root = json.loads(proof.read_text())["root"]
    assert main(["tree", "verify", str(proof), "--root", root]) == 0
    assert main(["tree", "verify", str(proof), "--root", "01" + root[2:]]) == 1
    assert main(["tree", "proof", str(bundle), "redis"]) == 10
