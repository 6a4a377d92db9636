"""Input decoding: raw / hex / base64 / PEM (the text layer; containers: tests/verifier/inputs)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from cairn_verifier.encoding import BlobFormat, decode_blob, decode_blob_with_format
from cairn_verifier.errors import ExitCode, MalformedInputError

SNP = "snp"


@pytest.fixture(scope="module")
def report(testdata: Path) -> bytes:
    """A real raw Milan v2 report (go-sev-guest/attestation.bin)."""
    return (testdata / SNP / "go-sev-guest/attestation.bin").read_bytes()


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
