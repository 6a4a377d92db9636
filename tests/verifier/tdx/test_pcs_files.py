"""TDX collateral stored under Intel PCS file names with URL-encoded issuer chains (Tinfoil).

No Tinfoil directory ships in tests/vectors, so the test builds one from REAL Intel collateral
exactly as tinfoilsh/tinfoil-go ``verifier/attestation/collateral/fetch.sh`` writes it: each PCS
response body under its name, and each ``*-Issuer-Chain`` response header value (URL-encoded
PEM, as Intel PCS sends it) in ``*_chain.txt``. Bodies: go-tdx-guest's PCS TCB info response
(byte for byte) and the PCS answers inside dcap-qvl's collateral JSON (signed text + signature,
re-wrapped in the PCS body shape; the signature covers only the inner object).
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest

from cairn_verifier.cli.main import main
from cairn_verifier.errors import ExitCode, MalformedInputError
from cairn_verifier.inputs import read_tdx_evidence
from cairn_verifier.tdx.pcs_files import (
    collateral_key,
    is_pcs_file_dir,
    load_pcs_file_dir,
    read_chain_file,
)

TDX = "tdx"
V5 = "go-tdx-guest/testdata/quote_v5_sample.dat"
AT = "2026-02-18T11:00:00Z"  # set gtg-v5-90c06f-2026-02 (tests/vectors/tdx/PROVENANCE.md)


def _header(pem: str) -> str:
    """An ``*-Issuer-Chain`` header value: the PEM chain, URL-encoded as Intel PCS sends it."""
    return urllib.parse.quote(pem, safe="")


def _pcs_body(member: str, signed_text: str, signature: str) -> bytes:
    return b'{"%s":%s,"signature":"%s"}' % (
        member.encode(),
        signed_text.encode(),
        signature.encode(),
    )


@pytest.fixture()
def tinfoil_dir(testdata: Path, tmp_path: Path) -> Path:
    qvl = json.loads(
        (testdata / TDX / "dcap-qvl/sample/tdx_quote_outdated_collateral.json").read_text()
    )
    other = json.loads((testdata / TDX / "dcap-qvl/sample/tdx_quote_collateral.json").read_text())
    old = json.loads(
        (testdata / TDX / "dcap-qvl/history-eadf882/tdx_quote_collateral.json").read_text()
    )
    d = tmp_path / "collateral"
    d.mkdir()
    # FMSPC 90C06F000000: go-tdx-guest's real PCS TCB info response, byte for byte.
    tcb = (testdata / TDX / "go-tdx-guest/testdata/sample_tcbinfo_response_v5").read_bytes()
    (d / "tcb_info_90c06f000000.json").write_bytes(tcb)
    (d / "tcb_info_90c06f000000_chain.txt").write_text(_header(qvl["tcb_info_issuer_chain"]))
    # A second FMSPC, B0C06F000000, as Tinfoil keeps several.
    (d / "tcb_info_b0c06f000000.json").write_bytes(
        _pcs_body("tcbInfo", other["tcb_info"], other["tcb_info_signature"])
    )
    (d / "tcb_info_b0c06f000000_chain.txt").write_text(_header(other["tcb_info_issuer_chain"]))
    (d / "qe_identity.json").write_bytes(
        _pcs_body("enclaveIdentity", qvl["qe_identity"], qvl["qe_identity_signature"])
    )
    (d / "qe_identity_chain.txt").write_text(_header(qvl["qe_identity_issuer_chain"]))
    (d / "root_ca.crl").write_bytes(bytes.fromhex(qvl["root_ca_crl"]))
    # Both PCK CRLs: the Platform CA's (the quote's issuer) and an older Processor CA CRL.
    (d / "pck_crl_platform.crl").write_bytes(bytes.fromhex(qvl["pck_crl"]))
    (d / "pck_crl_platform_chain.txt").write_text(_header(qvl["pck_crl_issuer_chain"]))
    (d / "pck_crl_processor.crl").write_bytes(bytes.fromhex(old["pck_crl"]))
    (d / "pck_crl_processor_chain.txt").write_text(_header(old["pck_crl_issuer_chain"]))
    return d


def test_quote_is_issued_by_the_platform_ca(testdata):
    quote = read_tdx_evidence((testdata / TDX / V5).read_bytes()).quote
    assert collateral_key(quote) == (bytes.fromhex("90c06f000000"), "platform")


def test_chain_files_are_url_encoded_pem(tinfoil_dir):
    raw = (tinfoil_dir / "qe_identity_chain.txt").read_bytes()
    assert raw.startswith(b"-----BEGIN%20CERTIFICATE-----%0A")
    assert read_chain_file(tinfoil_dir / "qe_identity_chain.txt").startswith(
        b"-----BEGIN CERTIFICATE-----\n"
    )


def test_cli_verifies_with_the_directory(testdata, tinfoil_dir, capsys):
    argv = ["verify", "tdx", str(testdata / TDX / V5), "--collateral", str(tinfoil_dir)]
    code = main([*argv, "--offline", "--no-cache", "--at", AT, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK, doc
    status = next(c for c in doc["checks"] if c["name"] == "tcb-status")
    assert "UpToDate" in status["summary"]
    crl = next(c for c in doc["checks"] if c["name"] == "pck-crl")
    assert crl["outcome"] == "pass"


def test_without_a_quote_several_candidates_are_refused(tinfoil_dir):
    assert is_pcs_file_dir(tinfoil_dir)
    with pytest.raises(MalformedInputError) as info:
        load_pcs_file_dir(tinfoil_dir)
    assert "90c06f000000, b0c06f000000" in info.value.message
    assert "cairn verify tdx QUOTE --collateral DIR" in info.value.hint


def test_a_missing_fmspc_is_named(testdata, tinfoil_dir, capsys):
    (tinfoil_dir / "tcb_info_90c06f000000.json").unlink()
    argv = ["verify", "tdx", str(testdata / TDX / V5), "--collateral", str(tinfoil_dir)]
    code = main([*argv, "--offline", "--no-cache", "--at", AT])
    err = capsys.readouterr().err
    assert code == ExitCode.MALFORMED_INPUT
    assert "no TCB info (tcb_info_<fmspc>.json) for 90c06f000000 (it has: b0c06f000000)" in err
    assert "fmspc=90C06F000000" in err


def test_a_chain_file_that_is_neither_form(tinfoil_dir):
    (tinfoil_dir / "qe_identity_chain.txt").write_text("not a chain")
    with pytest.raises(MalformedInputError, match="URL-encoded"):
        read_chain_file(tinfoil_dir / "qe_identity_chain.txt")


def test_plain_pem_chain_files_are_accepted(testdata, tinfoil_dir, capsys):
    encoded = (tinfoil_dir / "tcb_info_90c06f000000_chain.txt").read_text()
    (tinfoil_dir / "tcb_info_90c06f000000_chain.txt").write_text(urllib.parse.unquote(encoded))
    argv = ["verify", "tdx", str(testdata / TDX / V5), "--collateral", str(tinfoil_dir)]
    assert main([*argv, "--offline", "--no-cache", "--at", AT]) == ExitCode.OK
    capsys.readouterr()
