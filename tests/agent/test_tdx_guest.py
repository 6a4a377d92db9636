"""/dev/tdx_guest provider: TDREPORT diagnostics only, never evidence."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from cairn_agent.tee.base import ProviderError
from cairn_agent.tee.tdx_guest import TDX_CMD_GET_REPORT0, TDX_REPORT_REQ, TdxGuestProvider
from cairn_verifier.tdx.quote import TdReport, parse_quote

REPORT_DATA = bytes(range(100, 164))
TDINFO_OFFSET = 512  # REPORTMACSTRUCT 256 + TEE_TCB_INFO 239 + reserved 17


def tdreport(body: TdReport, report_data: bytes, report_type: int = 0x81) -> bytes:
    """A TDREPORT_STRUCT with the TD's real measurements (from a real quote) in TDINFO."""
    mac_struct = (
        bytes([report_type, 0, 1, 0])
        + bytes(12)
        + bytes(16)  # CPUSVN
        + bytes(48)  # TEE_TCB_INFO hash
        + bytes(48)  # TEE_INFO hash
        + report_data
        + bytes(32)
        + bytes(32)  # MAC
    )
    tdinfo = body.raw[120:520].ljust(512, b"\0")  # ATTRIBUTES, XFAM, MRTD .. RTMR3
    result = mac_struct + bytes(256) + tdinfo
    assert len(result) == 1024
    return result


class FakeTdxGuest:
    """Plays the tdx-guest driver: reads reportdata from the request, fills tdreport."""

    def __init__(self, body: TdReport):
        self.body = body
        self.calls: list[bytes] = []
        self.error: int | None = None
        self.report_type = 0x81
        self.echo: bytes | None = None

    def __call__(self, fd: int, request: int, arg: bytearray) -> None:
        assert request == TDX_CMD_GET_REPORT0
        assert len(arg) == 1088
        report_data, out = arg[:64], arg[64:]
        assert out == bytes(1024)
        self.calls.append(bytes(report_data))
        if self.error is not None:
            raise OSError(self.error, os.strerror(self.error))
        arg[64:] = tdreport(self.body, self.echo or bytes(report_data), self.report_type)


@pytest.fixture(scope="module")
def body(testdata: Path) -> TdReport:
    quote = (testdata / "tdx" / "dcap-qvl" / "sample" / "tdx_quote").read_bytes()
    return parse_quote(quote).body


@pytest.fixture
def device(tmp_path: Path) -> Path:
    path = tmp_path / "tdx_guest"
    path.touch()
    return path


def test_ioctl_number_matches_the_kernel_header() -> None:
    assert TDX_REPORT_REQ.size == 1088
    assert TDX_CMD_GET_REPORT0 == 0xC4405401


def test_get_tdreport(device: Path, body: TdReport) -> None:
    kernel = FakeTdxGuest(body)
    report = TdxGuestProvider(device, ioctl=kernel, tdreport_only=True).get_tdreport(REPORT_DATA)
    assert len(report) == 1024
    assert report[128:192] == REPORT_DATA
    assert report[TDINFO_OFFSET + 16 : TDINFO_OFFSET + 64] == body.mr_td
    assert kernel.calls == [REPORT_DATA]


@pytest.mark.parametrize("tdreport_only", [False, True])
def test_get_evidence_always_refuses_with_the_configfs_hint(
    device: Path, body: TdReport, tdreport_only: bool
) -> None:
    kernel = FakeTdxGuest(body)
    provider = TdxGuestProvider(device, ioctl=kernel, tdreport_only=tdreport_only)
    with pytest.raises(ProviderError) as info:
        provider.get_evidence(REPORT_DATA)
    assert "configfs-tsm" in (info.value.hint or "")
    assert "QGS" in (info.value.hint or "")
    assert not info.value.retryable
    assert kernel.calls == []
    assert provider.name == "tdx-guest" and str(device) in provider.describe()


def test_wrong_report_type(device: Path, body: TdReport) -> None:
    kernel = FakeTdxGuest(body)
    kernel.report_type = 0x00  # an SGX report
    with pytest.raises(ProviderError) as info:
        TdxGuestProvider(device, ioctl=kernel).get_tdreport(REPORT_DATA)
    assert "0x00" in info.value.message


def test_tdreport_for_other_report_data(device: Path, body: TdReport) -> None:
    kernel = FakeTdxGuest(body)
    kernel.echo = bytes(64)
    with pytest.raises(ProviderError) as info:
        TdxGuestProvider(device, ioctl=kernel).get_tdreport(REPORT_DATA)
    assert "another REPORT_DATA" in info.value.message


@pytest.mark.parametrize(("code", "retryable"), [(errno.EIO, False), (errno.EBUSY, True)])
def test_ioctl_errors(device: Path, body: TdReport, code: int, retryable: bool) -> None:
    kernel = FakeTdxGuest(body)
    kernel.error = code
    with pytest.raises(ProviderError) as info:
        TdxGuestProvider(device, ioctl=kernel).get_tdreport(REPORT_DATA)
    assert info.value.retryable is retryable
    assert os.strerror(code) in info.value.message


def test_missing_device(tmp_path: Path, body: TdReport) -> None:
    with pytest.raises(ProviderError) as info:
        TdxGuestProvider(tmp_path / "absent", ioctl=FakeTdxGuest(body)).get_tdreport(REPORT_DATA)
    assert "tdx-guest driver" in (info.value.hint or "")


def test_report_data_size(device: Path, body: TdReport) -> None:
    with pytest.raises(ProviderError):
        TdxGuestProvider(device, ioctl=FakeTdxGuest(body)).get_tdreport(bytes(65))
