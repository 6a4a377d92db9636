"""The CLI reads evidence as users hold it, says which format it found, and names wrong input."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from wrappers import dstack_get_quote_response, extended_report

from cairn_verifier.cli.main import main
from cairn_verifier.errors import ExitCode
from cairn_verifier.snp.cert_table import CertRole
from cairn_verifier.x509.cert import load_certificates

SNP = "snp"
OAK = "snp/oak"
TDX_QUOTE = "tdx/dcap-qvl/sample/tdx_quote"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture()
def genoa(testdata: Path) -> tuple[bytes, dict[CertRole, bytes], str]:
    """A real Genoa report, its real VCEK/ASK/ARK (DER) and a time inside their validity."""
    report = base64.b64decode(
        (testdata / SNP / "routex-client-lua/report-genoa-v3.b64").read_bytes()
    )
    vcek, ask, ark = load_certificates(
        (testdata / SNP / "routex-client-lua/vcek-chain-genoa.pem").read_bytes()
    )
    chain = {CertRole.VCEK: vcek.der, CertRole.ASK: ask.der, CertRole.ARK: ark.der}
    return report, chain, (vcek.not_before + timedelta(days=1)).isoformat()


def test_show_snp_names_the_container(testdata, capsys):
    code, out, _ = _run(["show", "snp", str(testdata / OAK / "genoa_oc_evidence.binarypb")], capsys)
    assert code == 0
    assert "(raw > oak-evidence-protobuf (report from root_layer" in out.splitlines()[0]
    code, out, _ = _run(
        ["show", "snp", str(testdata / SNP / "trustee/az-snp-vtpm_evidence-v2.json"), "--json"],
        capsys,
    )
    doc = json.loads(out)
    assert doc["container"].startswith("json-base64-field (member 'hcl_report'")
    assert " > azure-hcl (" in doc["container"]


def test_show_tdx_names_the_container(testdata, tmp_path, capsys):
    quote = (testdata / TDX_QUOTE).read_bytes()
    path = tmp_path / "get_quote.json"
    path.write_bytes(dstack_get_quote_response(quote))
    code, out, _ = _run(["show", "tdx", str(path)], capsys)
    assert code == 0
    assert f"{path} (json-hex-field (member 'quote'; not read: event_log) > tdx-quote" in out
    code, out, _ = _run(["show", "tdx", str(path), "--json"], capsys)
    assert json.loads(out)["container"].endswith(
        "> tdx-quote (v4, 4936 bytes; 70 zero bytes after the quote not read)"
    )


def test_verify_snp_uses_the_reports_certificate_table(genoa, tmp_path, capsys):
    """go-sev-guest `check` style: the extended report alone verifies, offline."""
    report, chain, at = genoa
    path = tmp_path / "extended.bin"
    path.write_bytes(extended_report(report, chain, pad_to=16384))
    argv = ["verify", "snp", str(path), "--offline", "--no-cache", "--at", at, "--json"]
    code, out, _ = _run(argv, capsys)
    doc = json.loads(out)
    assert code == ExitCode.OK, doc
    assert doc["container"] == "raw > report+cert-table (certificates VCEK, ASK, ARK)"
    leaf = next(c for c in doc["checks"] if c["name"] == "leaf-certificate")
    assert leaf["outcome"] == "pass"


def test_report_table_and_certs_that_disagree_are_refused(genoa, testdata, tmp_path, capsys):
    report, chain, at = genoa
    path = tmp_path / "extended.bin"
    path.write_bytes(extended_report(report, chain))
    other_vcek = testdata / SNP / "trustee/az-snp-vtpm_vcek-genoa.pem"  # another Genoa chip
    argv = ["verify", "snp", str(path), "--certs", str(other_vcek), "--offline", "--at", at]
    code, _, err = _run(argv, capsys)
    assert code == ExitCode.MALFORMED_INPUT
    assert "two different certificates claim the VCEK role" in err
    assert "(certificate table)" in err


def test_verify_oak_evidence_with_its_endorsements(testdata, capsys):
    argv = ["verify", "snp", str(testdata / OAK / "turin_oc_evidence.binarypb")]
    argv += ["--certs", str(testdata / OAK / "turin_oc_endorsements.binarypb"), "--offline"]
    code, out, _ = _run([*argv, "--no-cache", "--json"], capsys)
    doc = json.loads(out)
    assert code == ExitCode.OK, doc
    assert doc["container"].startswith("raw > oak-evidence-protobuf")


def test_oak_endorsements_as_report_hint_works(testdata, capsys):
    """The hint's command (evidence as REPORT, endorsements with --certs) verifies."""
    endorsements = testdata / OAK / "milan_rk_release_endorsements.binarypb"
    code, _, err = _run(["show", "snp", str(endorsements)], capsys)
    assert code == ExitCode.MALFORMED_INPUT
    assert "--certs ENDORSEMENTS.binarypb" in err
    evidence = testdata / OAK / "milan_rk_release_evidence.binarypb"
    argv = ["verify", "snp", str(evidence), "--certs", str(endorsements), "--offline", "--no-cache"]
    assert _run(argv, capsys)[0] == ExitCode.OK


@pytest.mark.parametrize("command", ["show", "verify"])
def test_tdx_quote_given_to_snp_commands(testdata, capsys, command):
    argv = [command, "snp", str(testdata / TDX_QUOTE), "--json"]
    if command == "verify":
        argv.append("--offline")
    code, out, _ = _run(argv, capsys)
    assert code == ExitCode.MALFORMED_INPUT
    error = json.loads(out)["error"]
    assert error["message"].startswith("SEV-SNP report: this is an Intel TDX quote (v4)")
    assert "`cairn show tdx FILE`" in error["hint"]
    assert _run(["show", "tdx", str(testdata / TDX_QUOTE)], capsys)[0] == 0  # the hint holds


@pytest.mark.parametrize("command", ["show", "verify"])
def test_snp_report_given_to_tdx_commands(testdata, capsys, command):
    report = testdata / SNP / "go-sev-guest/attestation.bin"
    argv = [command, "tdx", str(report)]
    if command == "verify":
        argv.append("--offline")
    code, _, err = _run(argv, capsys)
    assert code == ExitCode.MALFORMED_INPUT
    assert "this is an AMD SEV-SNP attestation report (version 2), not a TDX quote" in err
    assert "what to do: give it to the SEV-SNP commands: `cairn show snp FILE`" in err
    assert _run(["show", "snp", str(report)], capsys)[0] == 0  # the hint holds


@pytest.mark.parametrize("kind", ["snp", "tdx"])
def test_evidence_bundle_given_to_snp_or_tdx(tmp_path, capsys, kind):
    bundle = {"format": "cairn-evidence", "version": 1, "tee": {"kind": "sev-snp"}}
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(bundle))
    code, _, err = _run(["show", kind, str(path)], capsys)
    assert code == ExitCode.MALFORMED_INPUT
    assert "this is a Cairn evidence bundle" in err
    assert "cairn verify evidence FILE" in err


def test_gpu_evidence_list(testdata, capsys):
    path = (
        testdata
        / "gpu/attestation-sdk/common-test-data/serialized_test_evidence/hopper_evidence.json"
    )
    code, _, err = _run(["verify", "snp", str(path), "--offline"], capsys)
    assert code == ExitCode.MALFORMED_INPUT
    assert "NVIDIA GPU evidence list (1 entry, arch HOPPER), not CPU TEE evidence" in err
    assert "verify GPU evidence with `cairn verify gpu FILE`" in err
