"""SEV-SNP evidence in every accepted envelope, refused inputs named, hints true for the input."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import uuid
from pathlib import Path

import pytest
from wrappers import dstack_quote_report_json, dstack_snp_attestation, extended_report

from cairn_verifier.errors import ExitCode, MalformedInputError
from cairn_verifier.inputs import read_snp_evidence, read_tdx_evidence
from cairn_verifier.snp.cert_table import CertRole
from cairn_verifier.snp.report import parse_report
from cairn_verifier.x509.cert import load_certificates

SNP = "snp"


def _read(testdata: Path, relative: str) -> bytes:
    return (testdata / SNP / relative).read_bytes()


@pytest.fixture(scope="module")
def report(testdata: Path) -> bytes:
    """A real Genoa v3 report (routex-client-lua), verified E2E with vcek-chain-genoa.pem."""
    return base64.b64decode(_read(testdata, "routex-client-lua/report-genoa-v3.b64"))


@pytest.fixture(scope="module")
def chain(testdata: Path) -> dict[CertRole, bytes]:
    """Its real VCEK, ASK and ARK (DER), in that order in the PEM file."""
    vcek, ask, ark = load_certificates(_read(testdata, "routex-client-lua/vcek-chain-genoa.pem"))
    return {CertRole.VCEK: vcek.der, CertRole.ASK: ask.der, CertRole.ARK: ark.der}


@pytest.fixture(scope="module")
def hcl(testdata: Path) -> bytes:
    """A real Azure vTPM HCL report (trustee/az-snp-vtpm_hcl-report.bin, 2600 bytes)."""
    return _read(testdata, "trustee/az-snp-vtpm_hcl-report.bin")


def _error(data: bytes) -> MalformedInputError:
    with pytest.raises(MalformedInputError) as info:
        read_snp_evidence(data)
    assert info.value.exit_code is ExitCode.MALFORMED_INPUT
    return info.value


# ------------------------------------------------------------------------------------------
# real files, as their tools hand them out
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "formats"),
    [
        ("go-sev-guest/attestation.bin", ("raw", "snp-report")),
        ("virtee-sev/report_milan.hex", ("hex", "snp-report")),
        ("routex-client-lua/report-genoa-v3.b64", ("base64", "snp-report")),
        ("openpcc/gce_sevsnp_report.txt", ("pem", "snp-report")),
        ("azure-cvm-tooling/hcl-report-snp.bin", ("raw", "azure-hcl")),
        ("openpcc/azure_sevsnp_report.txt", ("pem", "azure-hcl")),
        ("trustee/az-snp-vtpm_evidence-v0.json", ("json-byte-array-field", "azure-hcl")),
        ("trustee/az-snp-vtpm_evidence-genoa.json", ("json-byte-array-field", "azure-hcl")),
        ("trustee/az-snp-vtpm_evidence-v1.json", ("json-base64-field", "azure-hcl")),
        ("trustee/az-snp-vtpm_evidence-v2.json", ("json-base64-field", "azure-hcl")),
        ("oak/cb_evidence.binarypb", ("raw", "oak-evidence-protobuf")),
        ("oak/milan_rk_release_evidence.binarypb", ("raw", "oak-evidence-protobuf")),
        ("oak/genoa_oc_evidence.binarypb", ("raw", "oak-evidence-protobuf")),
        ("oak/turin_oc_evidence.binarypb", ("raw", "oak-evidence-protobuf")),
    ],
)
def test_real_files(testdata, relative, formats):
    evidence = read_snp_evidence(_read(testdata, relative))
    assert evidence.formats == formats
    assert evidence.container.startswith(formats[0])
    parse_report(evidence.report)


def test_oak_report_is_field_1_2(testdata):
    # PROVENANCE: the examples were lifted from field 1.2 of the Oak evidence.
    evidence = read_snp_evidence(_read(testdata, "oak/turin_oc_evidence.binarypb"))
    example = (testdata.parents[1] / "examples/snp/turin-v5-oak-containers/report.bin").read_bytes()
    assert evidence.report == example
    assert "fields 2, 3, 4 not read" in evidence.container


def test_json_names_what_it_did_not_read(testdata):
    evidence = read_snp_evidence(_read(testdata, "trustee/az-snp-vtpm_evidence-v1.json"))
    assert "member 'hcl_report', URL-safe alphabet" in evidence.container
    assert "not read: version, tpm_quote, vcek" in evidence.container


def test_hcl_offset(hcl):
    evidence = read_snp_evidence(hcl)
    assert evidence.report == hcl[0x20 : 0x20 + 1184]
    assert read_snp_evidence(base64.b64encode(hcl)).report == evidence.report
    assert read_snp_evidence(hcl.hex().encode()).formats == ("hex", "azure-hcl")


# ------------------------------------------------------------------------------------------
# formats without a real sample here, built from real reports as their sources define them
# ------------------------------------------------------------------------------------------


def test_dstack_snp(report, chain):
    blob = dstack_snp_attestation(report, cert_chain=[chain[CertRole.ASK]], mr_config="{}")
    assert blob[:4] == b"\x00\x03\x81\x12"  # report at offset 4
    evidence = read_snp_evidence(blob)
    assert evidence.report == report
    assert evidence.formats == ("raw", "dstack-snp")
    assert "report at offset 4" in evidence.container and "not read" in evidence.container


def test_dstack_quote_report_json(report):
    # dstack-util quote-report writes the attestation as hex in an "attestation" member.
    evidence = read_snp_evidence(dstack_quote_report_json(dstack_snp_attestation(report)))
    assert evidence.formats == ("json-hex-field", "dstack-snp")
    assert evidence.report == report


def test_dstack_with_a_wrong_report_size_gets_no_cut_hint(report):
    blob = bytearray(dstack_snp_attestation(report))
    blob[2:4] = b"\x7d\x12"  # compact length 1183
    error = _error(bytes(blob))
    assert "head -c" not in error.hint and "no SEV-SNP report starts at offset 0" in error.hint


def test_truncated_dstack_attestation_is_named(report):
    error = _error(dstack_snp_attestation(report)[:1000])
    assert "dstack attestation (DstackAmdSevSnp)" in error.message
    assert "claims 1184 bytes" in error.message


@pytest.mark.parametrize("pad_to", [0, 16384])
def test_report_followed_by_its_certificate_table(report, chain, pad_to):
    evidence = read_snp_evidence(extended_report(report, chain, pad_to=pad_to))
    assert evidence.report == report
    assert evidence.formats == ("raw", "report+cert-table")
    assert set(evidence.certificates) == set(chain.values())
    assert "certificates VCEK, ASK, ARK" in evidence.container


def test_report_with_an_empty_certificate_table(report):
    evidence = read_snp_evidence(report + bytes(4096))
    assert evidence.formats == ("raw", "report+cert-table")
    assert evidence.certificates == ()
    assert "empty certificate table" in evidence.container


def test_unknown_guid_entries_are_named_not_used(report, chain):
    table = {CertRole.VCEK: chain[CertRole.VCEK], uuid.UUID(int=7): b"vendor data"}
    evidence = read_snp_evidence(extended_report(report, table))
    assert evidence.certificates == (chain[CertRole.VCEK],)
    assert "1 entry with unknown GUIDs not read" in evidence.container


def test_stray_bytes_after_the_table_are_not_a_table(report, chain):
    data = extended_report(report, chain, pad_to=8192)
    tampered = data[:-1] + b"\x01"  # a byte outside the table and its certificates
    error = _error(tampered)
    assert "non-zero byte" in error.hint
    assert "first 1184 bytes are an SEV-SNP report" in error.hint


# ------------------------------------------------------------------------------------------
# other things given to the SEV-SNP commands: named, with a hint that is true
# ------------------------------------------------------------------------------------------


def test_tdx_quote_is_named_and_the_tdx_commands_read_it(testdata):
    path = testdata / "tdx/dcap-qvl/sample/tdx_quote"
    error = _error(path.read_bytes())
    assert error.message.startswith("SEV-SNP report: this is an Intel TDX quote (v4)")
    assert "cairn show tdx" in error.hint and "cairn verify tdx" in error.hint
    assert read_tdx_evidence(path.read_bytes()).quote.header.version == 4  # the hint holds


def test_tdx_quote_in_json_is_named(testdata):
    error = _error((testdata / "tdx/trustee-azure/evidence-v0.json").read_bytes())
    assert "Intel TDX quote (v4)" in error.message and "td_quote" in error.message


def test_azure_tdx_hcl_report_hint_is_true(testdata):
    """The hint sends the user to the TD quote Azure issued: trustee's JSON holds it."""
    error = _error((testdata / "tdx/trustee-azure/hcl-report.bin").read_bytes())
    assert "carries an Intel TDX TD report" in error.message
    assert "td_quote" in error.hint and "cairn verify tdx" in error.hint
    assert "cairn verify azure" in error.hint and "--td-quote" in error.hint
    evidence = read_tdx_evidence((testdata / "tdx/trustee-azure/evidence-v0.json").read_bytes())
    assert "member 'td_quote'" in evidence.container


def test_hcl_of_an_unknown_type(hcl):
    changed = bytearray(hcl)
    struct.pack_into("<I", changed, 0x20 + 1184 + 8, 9)
    assert "type is 9" in _error(bytes(changed)).message


@pytest.mark.parametrize("size", [40, 0x20 + 1184, 0x20 + 1184 + 19])
def test_hcl_truncated(hcl, size):
    error = _error(hcl[:size])
    assert "shorter than its fixed part" in error.message
    assert "cut off" in error.hint


def test_hcl_header_size_beyond_data(hcl):
    declared = struct.unpack_from("<I", hcl, 8)[0]
    error = _error(hcl[: declared - 1])
    assert f"report size {declared}" in error.message and "cut off" in error.hint
    read_snp_evidence(hcl[:declared])  # exactly the declared size is fine


@pytest.mark.parametrize(
    ("relative", "needle"),
    [
        ("go-sev-guest/vcek.testcer", "X.509 certificate (DER) ('SEV-VCEK')"),
        ("constellation/snp_vcek.pem", "an X.509 certificate (PEM)"),
        ("routex-client-lua/vcek-chain-genoa.pem", "3 X.509 certificates (PEM)"),
        ("openpcc/sev_certificates.txt", "5 X.509 certificates and 2 certificate revocation"),
        ("sev-snp-measure/id_key_test.pem", "a key (PEM EC PRIVATE KEY)"),
        ("oak/turin_oc_endorsements.binarypb", "Oak endorsements protobuf (oak_containers"),
        ("trustee/as-e2e_evidence.json", "'attestation_report' is a JSON object"),
    ],
)
def test_other_inputs_are_named(testdata, relative, needle):
    assert needle in _error(_read(testdata, relative)).message


@pytest.mark.parametrize(
    ("relative", "needle"),
    [
        ("gpu/nvtrust/gpu_evidence.json", "NVIDIA GPU evidence list (8 entries, arch HOPPER)"),
        ("gpu/nvtrust/switch_evidence.json", "NVIDIA GPU evidence list (4 entries, arch LS10)"),
        ("gpu/go-nvattest-tools/testing/testdata/test_ppcie_data.json", "8 GPUs and 4 NVSwitches"),
        ("gpu/dstack/gpu_attestation_h100.json", "NVIDIA GPU attestation result"),
    ],
)
def test_nvidia_evidence_is_named(testdata, relative, needle):
    error = _error((testdata / relative).read_bytes())
    assert needle in error.message
    assert "not CPU TEE evidence" in error.message
    assert error.hint is not None and "`cairn verify gpu FILE`" in error.hint


def test_tdx_collateral_is_named(testdata):
    error = _error((testdata / "tdx/dcap-qvl/sample/tdx_quote_collateral.json").read_bytes())
    assert "Intel TDX collateral (dcap-qvl collateral JSON)" in error.message
    assert "cairn verify tdx QUOTE --collateral FILE" in error.hint


# ------------------------------------------------------------------------------------------
# wrong sizes: the hint says what is true of these bytes, and following it works
# ------------------------------------------------------------------------------------------


def test_report_with_trailing_bytes_hint_works(testdata, tmp_path):
    path = testdata / SNP / "constellation/snp_attestation.bin"  # 1184 + 20 bytes (Azure)
    error = _error(path.read_bytes())
    assert "got 1204 bytes" in error.message and "1184" in error.message
    assert "first 1184 bytes are an SEV-SNP report (version 2)" in error.hint
    command = "head -c 1184 FILE > report.bin"
    assert f"`{command}`" in error.hint
    subprocess.run(command.replace("FILE", str(path)), shell=True, cwd=tmp_path, check=True)
    assert read_snp_evidence((tmp_path / "report.bin").read_bytes()).formats[-1] == "snp-report"


def test_base64_report_with_trailing_bytes_hint_works(testdata, tmp_path):
    raw = _read(testdata, "constellation/snp_attestation.bin")
    path = tmp_path / "in.b64"
    path.write_bytes(base64.b64encode(raw) + b"\n")
    error = _error(path.read_bytes())
    assert "got 1204 bytes (base64)" in error.message
    command = "base64 -d FILE | head -c 1184 > report.bin"
    assert f"`{command}`" in error.hint
    subprocess.run(command.replace("FILE", str(path)), shell=True, cwd=tmp_path, check=True)
    assert read_snp_evidence((tmp_path / "report.bin").read_bytes()).report == raw[:1184]


def test_wrapped_report_gets_no_cut_hint(report):
    """A report behind an unknown 4-byte prefix: cutting the first 1184 bytes would be wrong."""
    error = _error(b"\x01\x02\x03\x04" + report)
    assert "head -c" not in error.hint
    assert "no SEV-SNP report starts at offset 0" in error.hint


def test_short_input_hint(report):
    error = _error(report[:592].hex().encode())
    assert "got 592 bytes (hex)" in error.message
    assert "shorter" in error.hint


# ------------------------------------------------------------------------------------------
# ambiguity and strict JSON
# ------------------------------------------------------------------------------------------


def test_two_evidence_members_are_refused_with_both_named(report, tmp_path):
    doc = {"report": list(report), "snp_report": report.hex()}
    path = tmp_path / "two.json"
    path.write_text(json.dumps(doc))
    error = _error(path.read_bytes())
    assert "'report', 'snp_report'" in error.message and "does not guess" in error.message
    command = error.hint.split("`")[1]
    assert command == "jq -r '.report' FILE"
    try:  # follow the hint: jq where installed, else the same in Python
        out = subprocess.run(
            command.replace("FILE", str(path)), shell=True, check=True, capture_output=True
        ).stdout
    except (subprocess.CalledProcessError, FileNotFoundError):
        out = json.dumps(doc["report"], indent=2).encode()
    assert read_snp_evidence(out).formats == ("json-byte-array", "snp-report")


def test_text_valid_as_hex_and_as_base64_evidence_is_refused():
    """Text that is evidence both as hex and as base64 is refused, naming both readings.

    Constructed for the rule (no real file is like this): the base64 reading is a version-4
    report header followed by an empty certificate table, and every base64 character happens
    to be a hex digit, whose hex reading is 1184 bytes: a bare report.
    """
    blob = bytearray(1776)
    blob[0], blob[0x34] = 4, 1  # VERSION 4, SIGNATURE_ALGO 1
    text = base64.b64encode(bytes(blob))
    assert len(text) == 2368 and all(chr(c) in "0123456789abcdefABCDEF" for c in text)
    error = _error(text)
    assert "reads as 2 different SEV-SNP reports" in error.message
    assert "hex > snp-report" in error.message
    assert "base64 > report+cert-table" in error.message


def test_duplicate_json_members_are_malformed(report):
    text = b'{"report": "%s", "report": "%s"}' % (report.hex().encode(), report.hex().encode())
    assert "duplicate member" in _error(text).message


def test_deep_json_is_malformed():
    assert "nested too deeply" in _error(b"[" * 100_000 + b"]" * 100_000).message


def test_json_array_that_is_not_bytes():
    assert "not a byte array" in _error(b"[1, 2, 256]").message


def test_cairn_evidence_bundle_points_to_verify_evidence():
    error = _error(json.dumps({"format": "cairn-evidence", "tee": {"kind": "sev-snp"}}).encode())
    assert "Cairn evidence bundle" in error.message
    assert "cairn verify evidence FILE" in error.hint


def test_utf8_text_is_named_as_text():
    error = _error("A report — or rather, a note about one.\n".encode())
    assert "the input is text (40 characters of UTF-8)" in error.message
    assert "docs/inputs.md" in error.hint


def test_ascii_text_names_the_characters_that_are_not_base64():
    error = _error(b"x = f(1)  # not evidence\n")
    assert "neither hex nor base64" in error.message and "'#()'" in error.message


def test_cairn_collateral_bundle_points_to_collateral_option():
    error = _error(json.dumps({"format": "cairn-collateral-bundle", "entries": []}).encode())
    assert "Cairn collateral bundle" in error.message
    assert "cairn verify snp EVIDENCE --collateral FILE" in error.hint


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        (b'{"report": "00aa', "cut off"),
        (b'{"report": "00aa",, "x": 1}', "line 1, column 19"),
        (b'{"report": [1, 2', "cut off"),
    ],
)
def test_invalid_json_hints(text, hint):
    error = _error(text)
    assert "not valid JSON" in error.message
    assert hint in error.hint


def test_oversized_json_integer_is_malformed():
    assert "not accepted" in _error(b"[" + b"9" * 5000 + b"]").message
