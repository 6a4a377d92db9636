"""What `cairn verify azure` reads: trustee's Azure evidence JSON (SEV-SNP v0-v2, TDX v0 and
v1), a bare HCL report with the vTPM quote (trustee's quote JSON, hex or byte arrays, or the
az-cvm-vtpm crate's bincode) and the TD quote; every departure is malformed input (exit 10)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from cairn_verifier.azure.inputs import read_azure_input, read_quote_file
from cairn_verifier.errors import ExitCode, MalformedInputError

TDX = "tdx/trustee-azure"


def _read(testdata: Path, path: str) -> bytes:
    return (testdata / path).read_bytes()


@pytest.mark.parametrize(
    ("path", "container", "vcek"),
    [
        ("snp/trustee/az-snp-vtpm_evidence-v0.json", "az-snp-vtpm evidence v0", True),
        ("snp/trustee/az-snp-vtpm_evidence-v1.json", "az-snp-vtpm evidence v1", True),
        ("snp/trustee/az-snp-vtpm_evidence-v2.json", "az-snp-vtpm evidence v2", True),
        ("snp/trustee/az-snp-vtpm_evidence-genoa.json", "az-snp-vtpm evidence v0", True),
        (f"{TDX}/evidence-v0.json", "az-tdx-vtpm evidence v0", False),
    ],
)
def test_trustee_evidence(testdata: Path, path: str, container: str, vcek: bool) -> None:
    found = read_azure_input(_read(testdata, path), path)
    assert container in found.container
    assert (found.vcek is not None) is vcek
    evidence = found.evidence
    assert evidence.hcl_report[:4] == b"HCLA"
    assert evidence.vtpm_quote is not None and len(evidence.vtpm_quote.pcrs) == 24
    assert (evidence.td_quote is not None) is (not vcek)


def test_the_tdx_evidence_in_its_v1_form_reads_the_same(testdata: Path) -> None:
    """trustee's az-tdx-vtpm v1: base64url reports and the hex quote (tpm-quote-v1.json)."""
    v0 = read_azure_input(_read(testdata, f"{TDX}/evidence-v0.json"), "v0").evidence
    v1_document = {
        "version": 1,
        "tpm_quote": json.loads(_read(testdata, f"{TDX}/tpm-quote-v1.json")),
        "hcl_report": base64.urlsafe_b64encode(_read(testdata, f"{TDX}/hcl-report.bin")).decode(),
        "td_quote": base64.urlsafe_b64encode(_read(testdata, f"{TDX}/td-quote.bin")).decode(),
    }
    v1 = read_azure_input(json.dumps(v1_document).encode(), "v1")
    assert v1.evidence == v0
    assert "az-tdx-vtpm evidence v1" in v1.container


@pytest.mark.parametrize("quote_file", ["quote.bin", "tpm-quote-v1.json"])
def test_a_bare_hcl_report_with_its_quote_files(testdata: Path, quote_file: str) -> None:
    expected = read_azure_input(_read(testdata, f"{TDX}/evidence-v0.json"), "v0").evidence
    found = read_azure_input(
        _read(testdata, f"{TDX}/hcl-report.bin"),
        "hcl-report.bin",
        tpm_quote=(_read(testdata, f"{TDX}/{quote_file}"), quote_file),
        td_quote=(_read(testdata, f"{TDX}/td-quote.bin"), "td-quote.bin"),
    )
    assert found.evidence == expected
    assert found.container.startswith("HCL report (binary) + ")


def test_the_bincode_quote_is_the_json_quote(testdata: Path) -> None:
    binary, form = read_quote_file(_read(testdata, f"{TDX}/quote.bin"), "quote.bin")
    text, _ = read_quote_file(_read(testdata, f"{TDX}/tpm-quote-v1.json"), "json")
    assert binary == text and form == "az-cvm-vtpm bincode vTPM quote"


def _refused(data: bytes, message: str, **parts: tuple[bytes, str]) -> None:
    with pytest.raises(MalformedInputError) as raised:
        read_azure_input(data, "evidence", **parts)  # type: ignore[arg-type]
    assert message in raised.value.message
    assert raised.value.exit_code is ExitCode.MALFORMED_INPUT


def test_what_is_refused(testdata: Path) -> None:
    v1 = json.loads(_read(testdata, "snp/trustee/az-snp-vtpm_evidence-v1.json"))
    _refused(json.dumps(v1 | {"extra": 1}).encode(), "unknown member(s) extra")
    _refused(json.dumps(v1 | {"version": 3}).encode(), "evidence version 3 is not one")
    _refused(json.dumps(v1 | {"version": "1"}).encode(), "version must be an integer")
    _refused(json.dumps(v1 | {"hcl_report": "***"}).encode(), "must be base64url text")
    short = dict(v1["tpm_quote"], pcrs=v1["tpm_quote"]["pcrs"][:23])
    _refused(json.dumps(v1 | {"tpm_quote": short}).encode(), "lists 23 PCR values")
    odd = dict(v1["tpm_quote"], signature=v1["tpm_quote"]["signature"][:-2])
    _refused(json.dumps(v1 | {"tpm_quote": odd}).encode(), "is 255 bytes")
    _refused(b'{"format": "cairn-evidence"}', "this is a Cairn evidence bundle")
    _refused(b"[1, 2]", "not an object is not Azure evidence")
    _refused(b"\x00\x01", "neither trustee Azure evidence JSON nor an HCL report")
    hcl = _read(testdata, f"{TDX}/hcl-report.bin")
    _refused(hcl, "an HCL report alone is not enough")
    quote = (_read(testdata, f"{TDX}/quote.bin"), "quote.bin")
    _refused(json.dumps(v1).encode(), "carries its own quotes", tpm_quote=quote)
    _refused(hcl, "cut off", tpm_quote=(quote[0][:-1], "quote.bin"))
    _refused(hcl, "1 bytes after the quote", tpm_quote=(quote[0] + b"\x00", "quote.bin"))
