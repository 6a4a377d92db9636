"""/dev/sev-guest provider against a fake kernel: it reads the request structs from the
caller's memory, checks them byte for byte and writes the response into the caller's buffers,
the way the sev-guest driver does through copy_from_user/copy_to_user."""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from pathlib import Path

import pytest

from cairn_agent.tee.base import ProviderError
from cairn_agent.tee.sev_guest import (
    EXT_REPORT_REQ,
    GUEST_REQUEST,
    REPORT_REQ,
    SNP_GET_EXT_REPORT,
    SNP_GET_REPORT,
    SevGuestProvider,
    iowr,
)
from cairn_verifier.snp.cert_table import CertRole, build_cert_table
from cairn_verifier.snp.report import parse_report

REPORT_DATA = bytes(range(0x40, 0x80))
VMM_INVALID_LEN = 1 << 32
VMM_BUSY = 2 << 32


class FakeSevGuest:
    """Plays the sev-guest driver + firmware for SNP_GET_REPORT / SNP_GET_EXT_REPORT."""

    def __init__(self, template: bytes, certs: bytes):
        self.template = template
        self.certs = certs
        self.calls: list[tuple[int, bytes, int]] = []  # (request, user_data, vmpl)
        self.failures: list[tuple[int, int]] = []  # queued (errno, exitinfo2) for next calls
        self.ext_supported = True
        self.status = 0
        self.report_size = 0x4A0
        self.echo_report_data: bytes | None = None

    def __call__(self, fd: int, request: int, arg: bytearray) -> None:
        assert isinstance(fd, int) and fd >= 0
        assert len(arg) == 32
        version, req_addr, resp_addr, exitinfo2 = GUEST_REQUEST.unpack(bytes(arg))
        assert version == 1 and exitinfo2 == 0 and req_addr and resp_addr
        if request == SNP_GET_EXT_REPORT:
            raw = ctypes.string_at(req_addr, EXT_REPORT_REQ.size)
            inner, certs_addr, certs_len = EXT_REPORT_REQ.unpack(raw)
            assert certs_addr and certs_len % 4096 == 0
        elif request == SNP_GET_REPORT:
            inner = ctypes.string_at(req_addr, REPORT_REQ.size)
        else:
            raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY))
        user_data, vmpl, reserved = REPORT_REQ.unpack(inner)
        assert reserved == bytes(28)
        self.calls.append((request, user_data, vmpl))
        if request == SNP_GET_EXT_REPORT and not self.ext_supported:
            raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY))

        if self.failures:
            code, info = self.failures.pop(0)
            arg[24:32] = info.to_bytes(8, "little")
            raise OSError(code, os.strerror(code))
        if request == SNP_GET_EXT_REPORT and len(self.certs) > certs_len:
            needed = -(-len(self.certs) // 4096) * 4096
            ctypes.memmove(req_addr + 104, needed.to_bytes(4, "little"), 4)
            arg[24:32] = VMM_INVALID_LEN.to_bytes(8, "little")
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        if request == SNP_GET_EXT_REPORT:
            ctypes.memmove(certs_addr, self.certs, len(self.certs))

        report = bytearray(self.template)
        report[0x50:0x90] = self.echo_report_data or user_data
        report[0x30:0x34] = vmpl.to_bytes(4, "little")
        response = struct.pack("<II24s", self.status, self.report_size, bytes(24)) + report
        ctypes.memmove(resp_addr, response, len(response))


@pytest.fixture
def device(tmp_path: Path) -> Path:
    path = tmp_path / "sev-guest"
    path.touch()
    return path


@pytest.fixture
def kernel(milan_report: bytes, milan_chain: dict[CertRole, bytes]) -> FakeSevGuest:
    return FakeSevGuest(milan_report, build_cert_table(milan_chain))


def test_ioctl_numbers_match_the_kernel_headers() -> None:
    assert GUEST_REQUEST.size == 32
    assert REPORT_REQ.size == 96
    assert EXT_REPORT_REQ.size == 112
    assert SNP_GET_REPORT == 0xC0205300
    assert SNP_GET_EXT_REPORT == 0xC0205302
    assert iowr("S", 0x1, 32) == 0xC0205301  # SNP_GET_DERIVED_KEY


def test_extended_report_with_certificates(
    device: Path, kernel: FakeSevGuest, milan_chain: dict[CertRole, bytes]
) -> None:
    provider = SevGuestProvider(device, vmpl=0, ioctl=kernel)
    evidence = provider.get_evidence(REPORT_DATA)
    assert evidence.kind == "sev-snp" and not evidence.simulated
    report = parse_report(evidence.report)
    assert report.report_data == REPORT_DATA and report.vmpl == 0
    assert evidence.certificates == (
        milan_chain[CertRole.VCEK],
        milan_chain[CertRole.ASK],
        milan_chain[CertRole.ARK],
    )
    assert kernel.calls == [(SNP_GET_EXT_REPORT, REPORT_DATA, 0)]
    assert provider.name == "sev-guest" and str(device) in provider.describe()


def test_vmpl_is_requested(device: Path, kernel: FakeSevGuest) -> None:
    evidence = SevGuestProvider(device, vmpl=1, ioctl=kernel).get_evidence(REPORT_DATA)
    assert parse_report(evidence.report).vmpl == 1
    assert kernel.calls[0][2] == 1


def test_short_certificate_buffer_then_retry(
    device: Path, milan_report: bytes, milan_chain: dict[CertRole, bytes]
) -> None:
    big = build_cert_table(milan_chain, pad_to=3 * 4096 + 10)
    kernel = FakeSevGuest(milan_report, big)
    provider = SevGuestProvider(device, ioctl=kernel, certs_buffer_size=4096)
    evidence = provider.get_evidence(REPORT_DATA)
    assert len(evidence.certificates) == 3
    assert [c[0] for c in kernel.calls] == [SNP_GET_EXT_REPORT, SNP_GET_EXT_REPORT]


def test_host_without_certificates_gives_none(device: Path, milan_report: bytes) -> None:
    kernel = FakeSevGuest(milan_report, b"")
    evidence = SevGuestProvider(device, ioctl=kernel).get_evidence(REPORT_DATA)
    assert evidence.certificates == ()
    assert parse_report(evidence.report).report_data == REPORT_DATA


def test_falls_back_to_plain_report_without_extended_support(
    device: Path, kernel: FakeSevGuest
) -> None:
    kernel.ext_supported = False
    evidence = SevGuestProvider(device, ioctl=kernel).get_evidence(REPORT_DATA)
    assert evidence.certificates == ()
    assert [c[0] for c in kernel.calls] == [SNP_GET_EXT_REPORT, SNP_GET_REPORT]


def test_falls_back_when_the_vmm_has_no_extended_request(
    device: Path, kernel: FakeSevGuest
) -> None:
    kernel.failures.append((errno.EIO, 0xFFFFFFFF << 32))
    evidence = SevGuestProvider(device, ioctl=kernel).get_evidence(REPORT_DATA)
    assert evidence.certificates == ()
    assert [c[0] for c in kernel.calls] == [SNP_GET_EXT_REPORT, SNP_GET_REPORT]


def test_vmm_busy_is_retryable(device: Path, kernel: FakeSevGuest) -> None:
    kernel.failures.append((errno.EIO, VMM_BUSY))
    with pytest.raises(ProviderError) as info:
        SevGuestProvider(device, ioctl=kernel).get_evidence(REPORT_DATA)
    assert info.value.retryable and "BUSY" in info.value.message


@pytest.mark.parametrize(
    ("fw_error", "name"), [(0x16, "INVALID_PARAM"), (0x27, "INVALID_KEY"), (0x99, "unknown")]
)
def test_firmware_errors_are_decoded(
    device: Path, kernel: FakeSevGuest, fw_error: int, name: str
) -> None:
    kernel.failures.append((errno.EIO, fw_error))
    with pytest.raises(ProviderError) as info:
        SevGuestProvider(device, ioctl=kernel).get_evidence(REPORT_DATA)
    assert f"{name} (0x{fw_error:02x})" in info.value.message
    assert not info.value.retryable


def test_report_status_error(device: Path, kernel: FakeSevGuest) -> None:
    kernel.status = 0x16
    with pytest.raises(ProviderError) as info:
        SevGuestProvider(device, ioctl=kernel).get_evidence(REPORT_DATA)
    assert "INVALID_PARAM" in info.value.message


def test_other_vmm_error(device: Path, kernel: FakeSevGuest) -> None:
    kernel.failures.append((errno.EIO, 7 << 32))
    with pytest.raises(ProviderError) as info:
        SevGuestProvider(device, ioctl=kernel).get_evidence(REPORT_DATA)
    assert "hypervisor error 0x7" in info.value.message


@pytest.mark.parametrize(
    ("code", "retryable"), [(errno.EBUSY, True), (errno.ETIMEDOUT, True), (errno.EINVAL, False)]
)
def test_plain_errno_failures(
    device: Path, kernel: FakeSevGuest, code: int, retryable: bool
) -> None:
    kernel.failures.append((code, 0))
    with pytest.raises(ProviderError) as info:
        SevGuestProvider(device, ioctl=kernel).get_evidence(REPORT_DATA)
    assert info.value.retryable is retryable


def test_vmm_asking_for_less_is_rejected(device: Path, kernel: FakeSevGuest) -> None:
    # INVALID_LEN without a larger size written back: a broken host, not a loop.
    kernel.failures.append((errno.EIO, VMM_INVALID_LEN))
    with pytest.raises(ProviderError) as info:
        SevGuestProvider(device, ioctl=kernel).get_evidence(REPORT_DATA)
    assert "certificate buffer" in info.value.message


def test_wrong_report_size(device: Path, kernel: FakeSevGuest) -> None:
    kernel.report_size = 1000
    with pytest.raises(ProviderError) as info:
        SevGuestProvider(device, ioctl=kernel).get_evidence(REPORT_DATA)
    assert "1000 bytes" in info.value.message


def test_report_for_other_report_data(device: Path, kernel: FakeSevGuest) -> None:
    kernel.echo_report_data = bytes(64)
    with pytest.raises(ProviderError) as info:
        SevGuestProvider(device, ioctl=kernel).get_evidence(REPORT_DATA)
    assert "REPORT_DATA" in info.value.message


def test_malformed_certificate_table(device: Path, milan_report: bytes) -> None:
    table = bytearray(build_cert_table({CertRole.VCEK: b"\x30\x00"}))
    table[16:20] = (8).to_bytes(4, "little")  # offset inside the table header
    kernel = FakeSevGuest(milan_report, bytes(table))
    with pytest.raises(ProviderError) as info:
        SevGuestProvider(device, ioctl=kernel).get_evidence(REPORT_DATA)
    assert "certificate table" in info.value.message


def test_missing_device(tmp_path: Path, kernel: FakeSevGuest) -> None:
    with pytest.raises(ProviderError) as info:
        SevGuestProvider(tmp_path / "absent", ioctl=kernel).get_evidence(REPORT_DATA)
    assert "sev-guest" in (info.value.hint or "")
    assert kernel.calls == []


def test_bad_arguments(device: Path, kernel: FakeSevGuest) -> None:
    with pytest.raises(ProviderError):
        SevGuestProvider(device, vmpl=4, ioctl=kernel)
    with pytest.raises(ProviderError):
        SevGuestProvider(device, ioctl=kernel, certs_buffer_size=1000)
    with pytest.raises(ProviderError):
        SevGuestProvider(device, ioctl=kernel).get_evidence(bytes(32))
