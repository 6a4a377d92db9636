"""`cairn verify azure` on the real Azure vectors: exit codes, text and --json, the formats it
reads from files, and what it prints about the binding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure_vectors import AzureVector, vectors

from cairn_verifier.cli.main import main

VECTORS = vectors(Path(__file__).resolve().parents[2] / "vectors")
POLICY = """
[azure]
allow_console = true

[tdx]
require_sept_ve_disable = false
"""


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "azure.toml"
    path.write_text(POLICY)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main(["verify", "azure", *argv, "--offline", "--no-cache", "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v.name)
def test_every_real_vector(
    testdata: Path, policy: Path, capsys: pytest.CaptureFixture[str], vector: AzureVector
) -> None:
    argv = [str(testdata / vector.path), "--policy", str(policy), "--at", vector.at.isoformat()]
    code, doc = _run(capsys, *argv, "--nonce", vector.nonce.hex())
    assert code == vector.exit_code, [c for c in doc["checks"] if c["outcome"] == "fail"]
    assert doc["claims"]["platform"] == vector.platform
    assert doc["container"].startswith("trustee az-")
    code, doc = _run(capsys, *argv, "--nonce", (b"x" + vector.nonce).hex())
    assert code == (vector.exit_code or 1)  # the first failure decides: TDX's collateral
    failed = [c["name"] for c in doc["checks"] if c["outcome"] == "fail"]
    assert "tpm-quote-nonce" in failed


def test_a_bare_hcl_report_with_quote_files(
    testdata: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = testdata / "tdx/trustee-azure"
    code, doc = _run(
        capsys,
        str(folder / "hcl-report.bin"),
        "--tpm-quote",
        str(folder / "quote.bin"),
        "--td-quote",
        str(folder / "td-quote.bin"),
        "--nonce",
        b"challenge".hex(),
        "--policy",
        str(policy),
        "--at",
        "2023-09-14T21:00:51Z",
    )
    assert code == 5  # Intel collateral for FMSPC 00806F050000 is not at hand
    assert [c["name"] for c in doc["checks"] if c["outcome"] == "fail"] == ["collateral"]
    assert doc["container"] == "HCL report (binary) + az-cvm-vtpm bincode vTPM quote + TD quote"


def test_text_output_names_the_binding(
    testdata: Path, policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vector = VECTORS[0]
    code = main(
        [
            "verify",
            "azure",
            str(testdata / vector.path),
            "--policy",
            str(policy),
            "--at",
            vector.at.isoformat(),
            "--nonce",
            vector.nonce.hex(),
            "--offline",
            "--no-cache",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Azure confidential VM (SEV-SNP, vTPM)" in out
    assert "REPORT_DATA = SHA-256(HCL runtime data)" in out
    assert "requested at VMPL 0" in out
    assert "no vTPM PCR pinned" in out


def test_usage_and_input_errors(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evidence = str(testdata / VECTORS[0].path)
    code, doc = _run(capsys, evidence, "--nonce", "00" * 65)
    assert code == 10 and "extraData holds at most 64" in doc["error"]["message"]
    code, doc = _run(capsys, evidence, "--nonce", "")
    assert code == 10
    code, doc = _run(capsys, str(testdata / "tdx/trustee-azure/hcl-report.bin"))
    assert code == 10 and "an HCL report alone is not enough" in doc["error"]["message"]
    code, doc = _run(capsys, str(tmp_path / "missing.json"))
    assert code == 10


def test_verify_snp_on_an_hcl_report_says_what_it_did_not_check(
    testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cairn verify snp` verifies the SEV-SNP report inside an HCL report, and says that its
    REPORT_DATA is not the user's nonce and that the binding is `cairn verify azure`'s job."""
    trustee = testdata / "snp/trustee"
    argv = ["verify", "snp", str(trustee / "az-snp-vtpm_hcl-report.bin"), "--json"]
    argv += ["--certs", str(trustee / "az-snp-vtpm_vcek.pem"), "--offline", "--no-cache"]
    assert main([*argv, "--at", "2025-01-29T16:26:55Z"]) == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert "not a nonce of yours" in warnings[0] and "cairn verify azure" in warnings[0]
    plain = testdata / "snp/trustee/snp_test-report.bin"
    main(["verify", "snp", str(plain), "--json", "--offline", "--no-cache"])
    assert not any(
        "cairn verify azure" in w for w in json.loads(capsys.readouterr().out)["warnings"]
    )


BUNDLES = Path(__file__).resolve().parents[1] / "evidence" / "bundles"


@pytest.mark.parametrize("name", ["azure-sev-snp-vtpm", "azure-tdx-vtpm"])
def test_show_evidence_decodes_the_hcl_report(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cairn show evidence` on an Azure bundle: the hardware report (on TDX the TD quote after
    the HCL report, whose REPORT_DATA ends in Azure's 32 zero bytes) and the HCL report's runtime
    data, decoded and said to be unverified."""
    assert main(["show", "evidence", str(BUNDLES / f"{name}.json"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] is False
    tee = doc["fields"]["tee"]
    assert tee["kind"] == name
    report = tee["report"]
    assert report["format"].startswith("TDX DCAP quote" if "tdx" in name else "SEV-SNP report")
    hcl = report["hcl_report"]
    assert hcl["runtime_data_bytes"] > 0 and len(hcl["hcl_ak_sha256"]) == 64
    assert "secure-boot=" in hcl["vm_configuration"]
    assert report["report_data"].endswith("00" * 32)
