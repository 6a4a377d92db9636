"""TDX quotes in every accepted envelope, refused inputs named, hints true for the input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from wrappers import (
    dstack_get_quote_response,
    dstack_quote_report_json,
    dstack_tdx_attestation,
    near_ai_gateway,
    near_ai_report,
    near_quote_json,
)

from cairn_verifier.errors import ExitCode, MalformedInputError
from cairn_verifier.inputs import read_snp_evidence, read_tdx_evidence

TDX = "tdx"


@pytest.fixture(scope="module")
def near_quote(testdata: Path) -> bytes:
    """NEAR's real quote (dcap-qvl near-gas-test, from NEAR's mpc contract tests), 5006 bytes."""
    return bytes.fromhex((testdata / TDX / "dcap-qvl/near-gas-test/quote_hex.txt").read_text())


@pytest.fixture(scope="module")
def dstack_quote(testdata: Path) -> bytes:
    """A real quote from a dstack CVM (dstack ra-tls assets)."""
    return (testdata / TDX / "dstack/ra-tls/assets/tdx_quote").read_bytes()


def _error(data: bytes) -> MalformedInputError:
    with pytest.raises(MalformedInputError) as info:
        read_tdx_evidence(data)
    assert info.value.exit_code is ExitCode.MALFORMED_INPUT
    return info.value


@pytest.mark.parametrize(
    ("relative", "formats"),
    [
        ("dcap-qvl/sample/tdx_quote", ("raw", "tdx-quote")),
        ("dcap-qvl/sample/tdx-quote.hex", ("hex", "tdx-quote")),
        ("dcap-qvl/sample/quote-from-tappd.hex", ("hex", "tdx-quote")),
        ("go-tdx-guest/testdata/quote_v5_sample.dat", ("raw", "tdx-quote")),
        ("trustee-azure/evidence-v0.json", ("json-byte-array-field", "tdx-quote")),
    ],
)
def test_real_files(testdata, relative, formats):
    evidence = read_tdx_evidence((testdata / TDX / relative).read_bytes())
    assert evidence.formats == formats


def test_trailing_bytes_are_reported(testdata):
    path = testdata / TDX / "go-tdx-guest/testdata/tdx_prod_quote_SPR_E4.dat"
    evidence = read_tdx_evidence(path.read_bytes())
    assert "39 bytes after the quote not read" in evidence.container
    padded = read_tdx_evidence((testdata / TDX / "dcap-qvl/sample/tdx_quote").read_bytes())
    assert "70 zero bytes after the quote not read" in padded.container


# --- built from real quotes as each format's source defines it ---------------------------


def test_near_json_byte_array(near_quote):
    evidence = read_tdx_evidence(near_quote_json(near_quote))
    assert evidence.formats == ("json-byte-array", "tdx-quote")
    assert evidence.quote.raw + evidence.quote.trailing == near_quote


def test_dstack_get_quote_response(dstack_quote):
    evidence = read_tdx_evidence(dstack_get_quote_response(dstack_quote))
    assert evidence.formats == ("json-hex-field", "tdx-quote")
    assert "member 'quote'; not read: event_log" in evidence.container


def test_near_ai_report(near_quote):
    evidence = read_tdx_evidence(json.dumps(near_ai_report(near_quote)).encode())
    assert evidence.formats == ("json-hex-field", "tdx-quote")
    assert "member 'intel_quote'" in evidence.container


def test_dstack_scale_attestation(dstack_quote):
    blob = dstack_tdx_attestation(dstack_quote)
    evidence = read_tdx_evidence(blob)
    assert evidence.formats == ("raw", "dstack-tdx")
    assert evidence.quote.raw + evidence.quote.trailing == dstack_quote
    via_json = read_tdx_evidence(dstack_quote_report_json(blob))
    assert via_json.formats == ("json-hex-field", "dstack-tdx")


def test_nested_quotes_hint_works(near_quote, tmp_path):
    """NEAR AI's gateway answer nests two reports; the hint's jq path takes one out."""
    path = tmp_path / "gateway.json"
    path.write_bytes(near_ai_gateway(near_quote))
    error = _error(path.read_bytes())
    assert "no member holding a TDX quote" in error.message
    assert ".gateway_attestation.intel_quote" in error.hint
    assert ".model_attestations[0].intel_quote" in error.hint
    command = error.hint.split("`")[1]
    assert command == "jq -r '.gateway_attestation.intel_quote' FILE > tdx-evidence.txt"
    # Follow the hint (jq where installed; else the same path in Python).
    try:
        subprocess.run(command.replace("FILE", str(path)), shell=True, cwd=tmp_path, check=True)
    except (subprocess.CalledProcessError, FileNotFoundError):
        doc = json.loads(path.read_bytes())
        (tmp_path / "tdx-evidence.txt").write_text(doc["gateway_attestation"]["intel_quote"])
    extracted = read_tdx_evidence((tmp_path / "tdx-evidence.txt").read_bytes())
    assert extracted.formats == ("hex", "tdx-quote")


# --- other things given to the TDX commands -------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "version"),
    [
        ("snp/go-sev-guest/attestation.bin", 2),
        ("snp/routex-client-lua/report-genoa-v3.b64", 3),
        ("snp/oak/turin_oc_evidence.binarypb", 5),
        ("snp/trustee/az-snp-vtpm_evidence-v0.json", 3),
    ],
)
def test_snp_reports_are_named_and_the_snp_commands_read_them(testdata, relative, version):
    data = (testdata / relative).read_bytes()
    error = _error(data)
    assert f"this is an AMD SEV-SNP attestation report (version {version}), not a TDX quote" in (
        error.message
    )
    assert "cairn show snp" in error.hint and "cairn verify snp" in error.hint
    read_snp_evidence(data)  # the hint holds


def test_azure_tdx_hcl_is_a_td_report_not_a_quote(testdata):
    error = _error((testdata / TDX / "trustee-azure/hcl-report.bin").read_bytes())
    assert "carrying a TD report, not a TDX quote" in error.message
    assert "td_quote" in error.hint


def test_sgx_quote_is_named(dstack_quote):
    """A DCAP quote header with TEE type 0 (SGX); built by changing only that field."""
    sgx = dstack_quote[:4] + b"\x00\x00\x00\x00" + dstack_quote[8:]
    assert "Intel SGX quote (v4, TEE type 0)" in _error(sgx).message


def test_not_a_quote_hint(testdata):
    error = _error((testdata / TDX / "trustee-azure/quote.bin").read_bytes())  # a vTPM quote
    assert "do not start like a TDX quote" in error.message
    assert "TEE type 0x00000081" in error.message


def test_collateral_is_named(testdata):
    error = _error((testdata / TDX / "go-tdx-guest/testdata/sample_tcbInfo_response").read_bytes())
    assert "Intel PCS response (tcbInfo)" in error.message and "--collateral" in error.hint


def test_dstack_nitro_attestation_is_named(dstack_quote):
    """dstack's V0 attestation with the DstackNitroEnclave variant (2); built like the others."""
    blob = b"\x00\x02" + bytes([len(b"cose") << 2]) + b"cose"
    error = _error(blob)
    assert "AWS Nitro Enclave (DstackNitroEnclave)" in error.message


def test_dstack_attestation_with_a_broken_quote_is_claimed(dstack_quote):
    blob = bytearray(dstack_tdx_attestation(dstack_quote))
    blob[4:6] = b"\x06\x00"  # quote version 6 (after V0, DstackTdx and a 2-byte length)
    assert "unsupported quote version 6" in _error(bytes(blob)).message
