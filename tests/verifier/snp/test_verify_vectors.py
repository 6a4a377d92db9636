"""Every real SEV-SNP vector gives the outcome PROVENANCE.md lists, through library and CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from vectors import SnpVector, load_vectors

from cairn_verifier.checks import Outcome, VerificationResult
from cairn_verifier.cli.main import main
from cairn_verifier.errors import ExitCode
from cairn_verifier.snp.certs import load_cert_collection
from cairn_verifier.snp.policy import SnpPolicy
from cairn_verifier.snp.verify import SnpVerifyRequest, verify_snp_report

EXPECTED_EXIT = {
    "verified": ExitCode.OK,
    "bad-signature": ExitCode.SIGNATURE_INVALID,
    "wrong-chip": ExitCode.SIGNATURE_INVALID,
    "tampered-vcek": ExitCode.CHAIN_UNTRUSTED,
}


def _vectors(testdata: Path) -> list[SnpVector]:
    return [v for v in load_vectors(testdata) if v.expected != "parse-only"]


def _write_case(vector: SnpVector, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    report = directory / "report.bin"
    report.write_bytes(vector.report)
    certs = directory / "certs"
    certs.mkdir()
    for index, der in enumerate(vector.certs):
        (certs / f"cert{index}.der").write_bytes(der)
    return report, certs


# The labelled outcomes are about authenticity; these guests' configurations (some are debug
# guests) are judged separately by the default policy below.
PERMISSIVE = SnpPolicy(allow_debug=True)


def _verify(vector: SnpVector, tmp_path: Path, **overrides: object) -> VerificationResult:
    _, certs = _write_case(vector, tmp_path / vector.name.replace("/", "_"))
    assert vector.at is not None
    fields: dict[str, object] = {
        "at": vector.at,
        "certs": load_cert_collection(certs),
        "policy": PERMISSIVE,
    }
    fields.update(overrides)
    request = SnpVerifyRequest(**fields)  # type: ignore[arg-type]
    return verify_snp_report(vector.report, request)


def test_catalogue_has_every_labelled_outcome(testdata: Path) -> None:
    outcomes = {v.expected for v in load_vectors(testdata)}
    assert {"verified", "bad-signature", "wrong-chip", "tampered-vcek"} <= outcomes


def test_every_vector_gives_its_labelled_outcome(testdata: Path, tmp_path: Path) -> None:
    seen = 0
    for vector in _vectors(testdata):
        result = _verify(vector, tmp_path)
        expected = EXPECTED_EXIT[vector.expected]
        assert result.exit_code is expected, (vector.name, result.to_json())
        if expected is ExitCode.OK:
            assert result.claims["product"] == vector.product, vector.name
            assert result.claims["signing_key"] == vector.signing_key.upper()
            names = {c.name for c in result.checks if c.outcome is Outcome.PASS}
            assert {
                "ark-self-signature",
                "intermediate-signature",
                "leaf-signature",
                "report-signature",
                "tcb-matches-certificate",
            } <= names
        seen += 1
    # PROVENANCE.md section 2: 24 verifying pairings + 4 labelled negatives (+3 parse-only).
    assert seen == 28


def test_default_policy_rejects_debug_guests(testdata: Path, tmp_path: Path) -> None:
    verified = [v for v in _vectors(testdata) if v.expected == "verified"]
    debug = [v for v in verified if v.report[0x08 + 2] & 0x08]  # POLICY bit 19
    assert debug, "the real vectors include debug guests"
    for vector in verified:
        result = _verify(vector, tmp_path / "default", policy=SnpPolicy())
        if vector in debug:
            assert result.exit_code is ExitCode.POLICY_REJECTED, vector.name
            failed = [c for c in result.checks if c.outcome is Outcome.FAIL]
            assert [c.name for c in failed] == ["debug-disabled"]
        else:
            assert result.exit_code is ExitCode.OK, (vector.name, result.to_json())


def test_tampered_vcek_fails_at_the_leaf_link(testdata: Path, tmp_path: Path) -> None:
    for vector in _vectors(testdata):
        if vector.expected != "tampered-vcek":
            continue
        result = _verify(vector, tmp_path)
        failed = [c for c in result.checks if c.outcome is Outcome.FAIL]
        assert failed[0].name == "leaf-signature"


def test_wrong_chip_is_a_signature_failure(testdata: Path, tmp_path: Path) -> None:
    wrong = [v for v in _vectors(testdata) if v.expected == "wrong-chip"]
    assert wrong
    for vector in wrong:
        result = _verify(vector, tmp_path)
        failed = [c for c in result.checks if c.outcome is Outcome.FAIL]
        assert [c.name for c in failed] == ["report-signature"]


def test_expired_certificates_fail_closed_without_a_pinned_time(
    testdata: Path, tmp_path: Path
) -> None:
    vlek = next(
        v for v in _vectors(testdata) if v.signing_key == "vlek" and v.expected == "verified"
    )
    now = datetime(2026, 11, 23, tzinfo=UTC)
    result = _verify(vlek, tmp_path, at=now)
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED
    failed = [c for c in result.checks if c.outcome is Outcome.FAIL]
    assert failed[0].name == "validity" and failed[0].component == "SEV-VLEK"


def test_not_yet_valid_certificate_is_rejected(testdata: Path, tmp_path: Path) -> None:
    vector = next(v for v in _vectors(testdata) if v.expected == "verified")
    assert vector.at is not None
    result = _verify(vector, tmp_path / "early", at=datetime(2000, 1, 1, tzinfo=UTC))
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED


def _permissive_policy(directory: Path) -> Path:
    path = directory / "permissive.toml"
    path.write_text("[snp]\nallow_debug = true\n")
    return path


@pytest.mark.parametrize("as_json", [False, True])
def test_cli_verifies_every_vector(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    for vector in _vectors(testdata):
        report, certs = _write_case(vector, tmp_path / vector.name.replace("/", "_"))
        assert vector.at is not None
        argv = ["verify", "snp", str(report), "--certs", str(certs), "--offline", "--no-cache"]
        argv += ["--at", vector.at.isoformat(), "--policy", str(_permissive_policy(tmp_path))]
        if as_json:
            argv.append("--json")
        code = main(argv)
        out = capsys.readouterr().out
        assert code == EXPECTED_EXIT[vector.expected], (vector.name, out)
        if as_json:
            doc = json.loads(out)
            assert doc["exit_code"] == code
            assert doc["verified"] is (code == 0)
        else:
            assert ("Result: VERIFIED" in out) is (code == 0)
            if code == 0:
                assert "SKIP  revocation" in out


def test_cli_pinned_time_one_day_after_notafter_fails(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vlek = next(
        v for v in _vectors(testdata) if v.signing_key == "vlek" and v.expected == "verified"
    )
    report, certs = _write_case(vlek, tmp_path / "vlek")
    leaf = load_cert_collection(certs).vlek
    assert leaf is not None
    late = (leaf.not_after + timedelta(days=1)).isoformat()
    argv = ["verify", "snp", str(report), "--certs", str(certs), "--offline", "--at", late]
    code = main(argv)
    assert code == ExitCode.CHAIN_UNTRUSTED
    out = capsys.readouterr().out
    assert "expired" in out
    # The VLEK-specific hint reaches the user of a real run (text and JSON).
    assert "what to do: VLEKs are valid for one year" in out
    assert main([*argv, "--json"]) == ExitCode.CHAIN_UNTRUSTED
    checks = json.loads(capsys.readouterr().out)["checks"]
    (validity,) = [c for c in checks if c["name"] == "validity" and c["outcome"] == "fail"]
    assert validity["component"] == "SEV-VLEK"
    assert validity["hint"].startswith("VLEKs are valid for one year")
