"""The HCL report parser on the real reports (SEV-SNP v1 and v2 headers, TDX) and on every
defect it must refuse: each a MalformedInputError (exit 10) naming the field."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from cairn_verifier.azure.hcl import (
    RUNTIME_DATA_OFFSET,
    HclReportType,
    parse_hcl_report,
    report_size,
    split_bundle_report,
)
from cairn_verifier.errors import ExitCode, MalformedInputError

SNP_HCL = "snp/trustee/az-snp-vtpm_hcl-report.bin"
TDX_HCL = "tdx/trustee-azure/hcl-report.bin"


def _hcl(testdata: Path, path: str = SNP_HCL) -> bytes:
    return (testdata / path).read_bytes()


def test_real_reports_parse_with_their_runtime_data(testdata: Path) -> None:
    snp = parse_hcl_report(_hcl(testdata))
    assert (snp.version, snp.size, snp.padding) == (1, 2346, 254)
    assert snp.report_type is HclReportType.SEV_SNP and len(snp.hardware_report) == 1184
    assert snp.runtime_data.startswith(b'{"keys":[{"kid":"HCLAkPub"')
    # REPORT_DATA (SEV-SNP report offset 0x50) commits to exactly these bytes
    report_data = snp.hardware_report[0x50:0x90]
    assert report_data == hashlib.sha256(snp.runtime_data).digest() + bytes(32)
    tdx = parse_hcl_report(_hcl(testdata, TDX_HCL))
    assert (tdx.version, tdx.size, tdx.report_type) == (2, 2437, HclReportType.TDX)
    assert len(tdx.hardware_report) == 1024 and tdx.hardware_report[0] == 0x81
    assert tdx.hardware_report[128:160] == hashlib.sha256(tdx.runtime_data).digest()


def _patch(offset: int, value: bytes) -> Callable[[bytes], bytes]:
    return lambda data: data[:offset] + value + data[offset + len(value) :]


def _u32(offset: int, value: int) -> Callable[[bytes], bytes]:
    return _patch(offset, struct.pack("<I", value))


DEFECTS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "magic": (_patch(0, b"HCLB"), "does not start with HCLA"),
    "version": (_u32(4, 3), "header version 3"),
    "status": (_u32(16, 1), "status is 1"),
    "reserved": (_u32(20, 1), "reserved header bytes"),
    "report size too small": (_u32(8, 100), "smaller than the fixed part"),
    "report size beyond the data": (_u32(8, 4000), "only 2600 bytes were given"),
    "report size not at the end": (_u32(8, 2345), "does not end where the runtime data ends"),
    "request data version": (_u32(0x4C0 + 4, 2), "IGVM request data version 2"),
    "report type": (_u32(0x4C0 + 8, 3), "report type 3"),
    "hash type": (_u32(0x4C0 + 12, 2), "hash type 2"),
    "data size": (_u32(0x4C0, 1129), "data_size 1129"),
    "huge runtime data": (_u32(0x4C0 + 16, 1 << 20), "more than the 65536 allowed"),
    "padding not zero": (_patch(2599, b"\x01"), "not all zero"),
    "cut off": (lambda data: data[:1000], "only 1000 bytes were given"),
    "no header": (lambda data: data[:16], "shorter than its 32-byte header"),
    "TDX area padding": (
        lambda data: _patch(0x20 + 1100, b"\x01")(_u32(0x4C0 + 8, 4)(data)),
        "bytes after the 1024-byte TD report are not zero",
    ),
}


@pytest.mark.parametrize("name", DEFECTS)
def test_defects_are_malformed_input_naming_the_field(testdata: Path, name: str) -> None:
    change, message = DEFECTS[name]
    with pytest.raises(MalformedInputError) as raised:
        parse_hcl_report(change(_hcl(testdata)))
    assert message in raised.value.message
    assert raised.value.exit_code is ExitCode.MALFORMED_INPUT
    assert raised.value.component == "HCL report"


def test_padding_is_refused_where_the_report_must_end(testdata: Path) -> None:
    data = _hcl(testdata)
    assert parse_hcl_report(data[: report_size(data)], allow_padding=False).padding == 0
    with pytest.raises(MalformedInputError, match="254 bytes follow the report"):
        parse_hcl_report(data, allow_padding=False)


def test_a_bundle_report_splits_into_hcl_report_and_td_quote(testdata: Path) -> None:
    hcl = _hcl(testdata, TDX_HCL)
    quote = (testdata / "tdx/trustee-azure/td-quote.bin").read_bytes()
    size = report_size(hcl)
    assert split_bundle_report(hcl[:size] + quote, tdx=True) == (hcl[:size], quote)
    snp = _hcl(testdata)
    assert split_bundle_report(snp, tdx=False) == (snp, None)
    with pytest.raises(MalformedInputError, match="nothing follows the HCL report"):
        split_bundle_report(hcl[:size], tdx=True)
    with pytest.raises(MalformedInputError, match="does not start with HCLA"):
        split_bundle_report(quote, tdx=True)
    assert RUNTIME_DATA_OFFSET == 0x4D4
