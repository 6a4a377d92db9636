"""Input decoding (raw / hex / base64 / PEM) and SEV-SNP report container extraction."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest

from cairn_verifier.encoding import (
    BlobFormat,
    decode_blob,
    decode_blob_with_format,
    extract_snp_report,
)
from cairn_verifier.errors import ExitCode, MalformedInputError
from cairn_verifier.snp.report import parse_report

SNP = "snp"


@pytest.fixture(scope="module")
def report(testdata: Path) -> bytes:
    """A real raw Milan v2 report (go-sev-guest/attestation.bin)."""
    return (testdata / SNP / "go-sev-guest/attestation.bin").read_bytes()


@pytest.fixture(scope="module")
def hcl(testdata: Path) -> bytes:
    """A real Azure vTPM HCL report (trustee/az-snp-vtpm_hcl-report.bin, 2600 bytes)."""
    return (testdata / SNP / "trustee/az-snp-vtpm_hcl-report.bin").read_bytes()


def _wrap(text: bytes, width: int = 64) -> bytes:
    return b"\n".join(text[i : i + width] for i in range(0, len(text), width)) + b"\n"


# ------------------------------------------------------------------------------------------
# decode_blob
# ------------------------------------------------------------------------------------------


def test_raw_binary_passes_through(report):
    assert decode_blob_with_format(report, what="r") == (report, BlobFormat.RAW)


@pytest.mark.parametrize(
    "encode",
    [
        lambda b: b.hex().encode(),
        lambda b: b.hex().upper().encode(),
        lambda b: b"0x" + b.hex().encode(),
        lambda b: b"  0X" + b.hex().upper().encode() + b"\r\n",
        lambda b: _wrap(b.hex().encode(), 32),
        lambda b: b" ".join(f"{x:02x}".encode() for x in b),
        lambda b: b"\xef\xbb\xbf" + b.hex().encode(),
    ],
)
def test_hex_variants(report, encode):
    assert decode_blob_with_format(encode(report), what="r") == (report, BlobFormat.HEX)


@pytest.mark.parametrize(
    ("encode", "fmt"),
    [
        (base64.b64encode, BlobFormat.BASE64),
        (lambda b: base64.b64encode(b).rstrip(b"="), BlobFormat.BASE64),
        (lambda b: _wrap(base64.b64encode(b), 76), BlobFormat.BASE64),
        (lambda b: base64.b64encode(b) + b"\n", BlobFormat.BASE64),
        (base64.urlsafe_b64encode, BlobFormat.BASE64URL),
        (lambda b: base64.urlsafe_b64encode(b).rstrip(b"="), BlobFormat.BASE64URL),
        (lambda b: _wrap(base64.urlsafe_b64encode(b)), BlobFormat.BASE64URL),
    ],
)
def test_base64_variants(report, encode, fmt):
    # Sizes 1184, 1183 and 1182 exercise every padding length.
    for data in (report, report[:-1], report[:-2]):
        assert decode_blob_with_format(encode(data), what="r") == (data, fmt)


def test_pem_block_with_surrounding_text(report):
    text = (
        b"A report for testing.\n\n-- report.pem --\n-----BEGIN REPORT-----\n"
        + _wrap(base64.b64encode(report), 76)
        + b"-----END REPORT-----\n"
    )
    assert decode_blob_with_format(text, what="r") == (report, BlobFormat.PEM)


def test_real_files_decode(testdata, report):
    hex_file = (testdata / SNP / "virtee-sev/report_milan.hex").read_bytes()
    assert len(decode_blob(hex_file, what="r")) == 1184  # 2368 uppercase hex digits
    b64_file = (testdata / SNP / "constellation/aws-snp_report.txt").read_bytes()
    assert len(decode_blob(b64_file, what="r")) == 1184


def test_hex_wins_over_base64():
    # "deadbeef" is valid base64 too; the documented rule takes it as hex.
    assert decode_blob(b"deadbeef", what="x") == bytes.fromhex("deadbeef")


def test_printable_bytes_are_text():
    # The documented rule: all-printable input is text, whatever its length.
    assert decode_blob(b"QUJD" * 4, what="x") == b"ABC" * 4
    assert decode_blob(b"\x00QUJD", what="x") == b"\x00QUJD"  # one NUL byte: raw binary


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "empty"),
        (b" \n\t ", "empty"),
        (b"not a report!", "neither hex nor base64"),
        (b"abc", "odd number"),
        (b"0xZZ", "0x"),
        (b"AAAA+-AA", "mixes"),
        (b"QQQQQ", "impossible length"),
        (b"AA=A", "padding"),
        (
            b"-----BEGIN A-----\nAAAA\n-----END A-----\n-----BEGIN B-----\nAAAA\n-----END B-----",
            "2",
        ),
        (b"-----BEGIN A-----\nAAAA\n-----END B-----", "END B"),
        (b"-----BEGIN A-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END A-----", "headers"),
        (b"====", "nothing"),
    ],
)
def test_bad_text(data, needle):
    with pytest.raises(MalformedInputError) as info:
        decode_blob(data, what="SEV-SNP report")
    assert needle in info.value.message
    assert info.value.message.startswith("SEV-SNP report: ")
    assert info.value.exit_code is ExitCode.MALFORMED_INPUT


# ------------------------------------------------------------------------------------------
# extract_snp_report
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "container"),
    [
        ("go-sev-guest/attestation.bin", "SEV-SNP report"),
        ("virtee-sev/report_milan.hex", "SEV-SNP report (hex)"),
        ("routex-client-lua/report-genoa-v3.b64", "SEV-SNP report (base64)"),
        ("constellation/aws-snp_report.txt", "SEV-SNP report (base64)"),
        ("openpcc/gce_sevsnp_report.txt", "SEV-SNP report (PEM block)"),
        ("azure-cvm-tooling/hcl-report-snp.bin", "Azure vTPM HCL report, SEV-SNP report at"),
        ("trustee/az-snp-vtpm_hcl-report.bin", "Azure vTPM HCL report, SEV-SNP report at"),
        ("openpcc/azure_sevsnp_report.txt", "Azure vTPM HCL report (PEM block), SEV-SNP"),
    ],
)
def test_extract_real_containers(testdata, relative, container):
    raw, description = extract_snp_report((testdata / SNP / relative).read_bytes())
    assert len(raw) == 1184
    assert description.startswith(container)
    parse_report(raw)


def test_extract_hcl_offset(hcl):
    raw, _ = extract_snp_report(hcl)
    assert raw == hcl[0x20 : 0x20 + 1184]
    assert hcl[:4] == b"HCLA"


def test_extract_accepts_predecoded_and_encoded_alike(hcl):
    assert extract_snp_report(hcl)[0] == extract_snp_report(base64.b64encode(hcl))[0]
    assert extract_snp_report(hcl.hex().encode())[1].startswith("Azure vTPM HCL report (hex)")


def test_extract_hcl_tdx_type_rejected(hcl):
    tdx = bytearray(hcl)
    struct.pack_into("<I", tdx, 0x20 + 1184 + 8, 4)
    with pytest.raises(MalformedInputError, match="TDX"):
        extract_snp_report(bytes(tdx))
    struct.pack_into("<I", tdx, 0x20 + 1184 + 8, 9)
    with pytest.raises(MalformedInputError, match="type is 9"):
        extract_snp_report(bytes(tdx))


@pytest.mark.parametrize("size", [40, 0x20 + 1184, 0x20 + 1184 + 19])
def test_extract_hcl_truncated(hcl, size):
    with pytest.raises(MalformedInputError, match="shorter than its fixed part"):
        extract_snp_report(hcl[:size])


def test_extract_hcl_header_size_beyond_data(hcl):
    declared = struct.unpack_from("<I", hcl, 8)[0]
    with pytest.raises(MalformedInputError, match=f"report size {declared}"):
        extract_snp_report(hcl[: declared - 1])
    extract_snp_report(hcl[:declared])  # exactly the declared size is fine


def test_extract_wrong_size_states_sizes(testdata):
    data = (testdata / SNP / "constellation/snp_attestation.bin").read_bytes()  # 1204 bytes
    with pytest.raises(MalformedInputError) as info:
        extract_snp_report(data)
    assert "1204 bytes" in info.value.message and "1184" in info.value.message
    assert "HCLA" in info.value.message and info.value.hint
    with pytest.raises(MalformedInputError, match="1183 bytes"):
        extract_snp_report(data[:1183])
    with pytest.raises(MalformedInputError, match=r"592 bytes \(hex\)"):
        extract_snp_report(data[:592].hex().encode())
