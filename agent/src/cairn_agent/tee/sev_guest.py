"""SEV-SNP evidence through the ``/dev/sev-guest`` ioctls (Linux UAPI ``linux/sev-guest.h``).

``SNP_GET_EXT_REPORT`` returns the attestation report and the host's certificate table in
one call; when the host has no certificate support the provider falls back to
``SNP_GET_REPORT``; ``SNP_GET_DERIVED_KEY`` asks the AMD-SP for a sealing key
(:mod:`.derived_key`). The kernel reads the request and writes the response through user
pointers, so the buffers live in ctypes memory and the ioctl argument carries their
addresses; tests inject an ``ioctl`` callable that plays the kernel on those buffers.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
from collections.abc import Callable
from pathlib import Path

from cairn_verifier.api import CertRole, ParseError, parse_cert_table

from .base import ProviderError, TeeEvidence, TeeKind
from .derived_key import DERIVED_KEY_RESP_SIZE, KEY_BYTES, MSG_KEY_RSP, DerivedKeyRequest

IoctlFn = Callable[[int, int, bytearray], None]
"""``ioctl(fd, request, arg)``: ``arg`` is updated in place; failure raises OSError."""

# --- _IOC arithmetic (include/uapi/asm-generic/ioctl.h) --------------------------------------
_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = 8
_IOC_SIZESHIFT = 16
_IOC_DIRSHIFT = 30
_IOC_WRITE = 1
_IOC_READ = 2


def iowr(ioc_type: str, nr: int, size: int) -> int:
    """``_IOWR(type, nr, size)``: a read/write ioctl number."""
    direction = _IOC_READ | _IOC_WRITE
    return (
        (direction << _IOC_DIRSHIFT)
        | (size << _IOC_SIZESHIFT)
        | (ord(ioc_type) << _IOC_TYPESHIFT)
        | (nr << _IOC_NRSHIFT)
    )


# --- UAPI structures ---------------------------------------------------------------------------
GUEST_REQUEST = struct.Struct("<B7xQQQ")
"""snp_guest_request_ioctl {msg_version u8, pad, req_data u64, resp_data u64, exitinfo2 u64}."""
REPORT_REQ = struct.Struct("<64sI28s")
"""snp_report_req {user_data[64], vmpl u32, rsvd[28]}."""
EXT_REPORT_REQ = struct.Struct("<96sQI4x")
"""snp_ext_report_req {data: snp_report_req, certs_address u64, certs_len u32} (8-aligned)."""
REPORT_RESP_SIZE = 4000
"""snp_report_resp {data[4000]}."""
MSG_REPORT_RSP = struct.Struct("<II24s")
"""MSG_REPORT_RSP header {status u32, report_size u32, reserved[24]}; the report follows."""

SNP_GET_REPORT = iowr("S", 0x0, GUEST_REQUEST.size)
SNP_GET_DERIVED_KEY = iowr("S", 0x1, GUEST_REQUEST.size)
SNP_GET_EXT_REPORT = iowr("S", 0x2, GUEST_REQUEST.size)
MSG_VERSION = 1

REPORT_SIZE = 0x4A0
REPORT_DATA_OFFSET = 0x50
VMPL_OFFSET = 0x30
PAGE_SIZE = 4096
DEFAULT_CERTS_BUFFER = 4 * PAGE_SIZE
MAX_CERTS_BUFFER = 256 * PAGE_SIZE

SNP_GUEST_VMM_ERR_INVALID_LEN = 1
SNP_GUEST_VMM_ERR_BUSY = 2
SNP_GUEST_VMM_ERR_GENERIC = 0xFFFFFFFF

FIRMWARE_ERRORS = {
    0x01: "INVALID_PLATFORM_STATE",
    0x02: "INVALID_GUEST_STATE",
    0x03: "INVALID_CONFIG",
    0x04: "INVALID_LEN",
    0x05: "ALREADY_OWNED",
    0x06: "INVALID_CERTIFICATE",
    0x07: "POLICY_FAILURE",
    0x08: "INACTIVE",
    0x09: "INVALID_ADDRESS",
    0x0A: "BAD_SIGNATURE",
    0x0B: "BAD_MEASUREMENT",
    0x0C: "ASID_OWNED",
    0x0D: "INVALID_ASID",
    0x0E: "WBINVD_REQUIRED",
    0x0F: "DFFLUSH_REQUIRED",
    0x10: "INVALID_GUEST",
    0x11: "INVALID_COMMAND",
    0x12: "ACTIVE",
    0x13: "HWERROR_PLATFORM",
    0x14: "HWERROR_UNSAFE",
    0x15: "UNSUPPORTED",
    0x16: "INVALID_PARAM",
    0x17: "RESOURCE_LIMIT",
    0x18: "SECURE_DATA_INVALID",
    0x19: "INVALID_PAGE_SIZE",
    0x1A: "INVALID_PAGE_STATE",
    0x1B: "INVALID_MDATA_ENTRY",
    0x1C: "INVALID_PAGE_OWNER",
    0x1D: "AEAD_OFLOW",
    0x1F: "EXIT_RING_BUFFER",
    0x20: "RMP_INIT_REQUIRED",
    0x21: "BAD_SVN",
    0x22: "BAD_VERSION",
    0x23: "SHUTDOWN_REQUIRED",
    0x24: "UPDATE_FAILED",
    0x25: "RESTORE_REQUIRED",
    0x26: "RMP_INITIALIZATION_FAILED",
    0x27: "INVALID_KEY",
}
"""SEV firmware status codes (include/uapi/linux/psp-sev.h, SEV_RET_*)."""

_CERT_ORDER = (CertRole.VCEK, CertRole.VLEK, CertRole.ASK, CertRole.ARK)


def firmware_error_name(code: int) -> str:
    """``NAME (0xNN)`` for a firmware status code."""
    return f"{FIRMWARE_ERRORS.get(code, 'unknown')} (0x{code:02x})"


def check_report_data(report_data: bytes) -> bytes:
    """The 64-byte REPORT_DATA as bytes; ProviderError for anything else."""
    if not isinstance(report_data, (bytes, bytearray)) or len(report_data) != 64:
        size = len(report_data) if isinstance(report_data, (bytes, bytearray)) else None
        raise ProviderError(f"REPORT_DATA must be exactly 64 bytes, got {size!r}")
    return bytes(report_data)


def check_snp_report(report: bytes, report_data: bytes, vmpl: int | None, source: str) -> bytes:
    """Structural sanity of a report from the device: size, our REPORT_DATA, our VMPL."""
    if len(report) != REPORT_SIZE:
        raise ProviderError(
            f"{source} returned {len(report)} bytes, not a {REPORT_SIZE}-byte SEV-SNP report",
            hint="the guest driver or firmware speaks a format Cairn does not know; check the"
            " kernel version and report it",
        )
    got = report[REPORT_DATA_OFFSET : REPORT_DATA_OFFSET + 64]
    if got != report_data:
        raise ProviderError(
            f"{source} returned a report whose REPORT_DATA is not the one requested",
            hint="another process may be using the same interface concurrently; retry",
            retryable=True,
        )
    if vmpl is not None:
        got_vmpl = int.from_bytes(report[VMPL_OFFSET : VMPL_OFFSET + 4], "little")
        if got_vmpl != vmpl:
            raise ProviderError(f"{source} returned a report for VMPL {got_vmpl}, not {vmpl}")
    return report


def certificates_from_table(blob: bytes, source: str) -> tuple[bytes, ...]:
    """The certificates of an SNP certificate table, VCEK/VLEK first, then ASK and ARK."""
    try:
        table = parse_cert_table(blob)
    except ParseError as exc:
        raise ProviderError(
            f"{source} returned a malformed certificate table: {exc}",
            hint=exc.hint,
        ) from exc
    return tuple(table[role] for role in _CERT_ORDER if role in table)


def key_from_response(raw: bytes, source: str) -> bytes:
    """The derived key of a 64-byte ``snp_derived_key_resp``; ProviderError for a bad status."""
    if len(raw) != DERIVED_KEY_RESP_SIZE:
        raise ProviderError(f"{source}: the key response is {len(raw)} bytes, expected 64")
    status, _reserved, key = MSG_KEY_RSP.unpack(raw)
    if status != 0:
        raise ProviderError(
            f"{source}: the SEV firmware refused the key request with status"
            f" {firmware_error_name(status)}",
            hint="INVALID_PARAM: a guest SVN above the guest's own, a TCB version above the "
            "committed TCB, or a VMPL below the caller's; INVALID_KEY: VMRK without a migration "
            "agent",
        )
    if key == bytes(KEY_BYTES):
        raise ProviderError(f"{source}: the firmware answered success with an all-zero key")
    return bytes(key)


def _real_ioctl(fd: int, request: int, arg: bytearray) -> None:
    fcntl.ioctl(fd, request, arg, True)


_OPEN_HINTS = {
    errno.ENOENT: "this VM has no SEV-SNP guest device: is it an SNP guest with the sev-guest"
    " driver loaded (modprobe sev-guest)? On newer kernels prefer provider = configfs-tsm",
    errno.EACCES: "the agent needs read/write access to the device (run it as root or grant its"
    " user access with a udev rule)",
    errno.EPERM: "the agent needs read/write access to the device (run it as root)",
    errno.EBUSY: "another process holds the device; retry",
}


class SevGuestProvider:
    """SEV-SNP reports (and host certificates) from ``/dev/sev-guest``."""

    name = "sev-guest"
    kinds: tuple[TeeKind, ...] = ("sev-snp",)

    def __init__(
        self,
        device: Path = Path("/dev/sev-guest"),
        vmpl: int = 0,
        ioctl: IoctlFn | None = None,
        *,
        certs_buffer_size: int = DEFAULT_CERTS_BUFFER,
    ):
        if not 0 <= vmpl <= 3:
            raise ProviderError(f"vmpl must be 0-3, got {vmpl}")
        if certs_buffer_size <= 0 or certs_buffer_size % PAGE_SIZE:
            raise ProviderError(
                f"certs_buffer_size must be a positive multiple of {PAGE_SIZE}, got"
                f" {certs_buffer_size}"
            )
        self.device = Path(device)
        self.vmpl = vmpl
        self._ioctl = ioctl or _real_ioctl
        self._certs_buffer_size = certs_buffer_size

    def describe(self) -> str:
        return f"sev-guest: SEV-SNP extended reports from {self.device} at VMPL {self.vmpl}"

    def get_evidence(self, report_data: bytes) -> TeeEvidence:
        data = check_report_data(report_data)
        fd = self._open()
        try:
            report, certs = self._extended_report(fd, data)
        finally:
            os.close(fd)
        check_snp_report(report, data, self.vmpl, str(self.device))
        return TeeEvidence(kind="sev-snp", report=report, certificates=certs)

    def derived_key(self, request: DerivedKeyRequest) -> bytes:
        """``SNP_GET_DERIVED_KEY``: the 32-byte key the AMD-SP derives for ``request``."""
        if request.vmpl < self.vmpl:
            raise ProviderError(
                f"a derived key for VMPL {request.vmpl} cannot be asked for at VMPL {self.vmpl}",
                hint="the firmware derives keys for the caller's VMPL or a less privileged one",
            )
        packed = request.pack()
        req = ctypes.create_string_buffer(packed, len(packed))
        resp = ctypes.create_string_buffer(DERIVED_KEY_RESP_SIZE)
        arg = bytearray(
            GUEST_REQUEST.pack(MSG_VERSION, ctypes.addressof(req), ctypes.addressof(resp), 0)
        )
        fd = self._open()
        try:
            self._ioctl(fd, SNP_GET_DERIVED_KEY, arg)
        except OSError as exc:
            if exc.errno in (errno.ENOTTY, errno.EOPNOTSUPP):
                raise ProviderError(
                    f"{self.device} does not offer SNP_GET_DERIVED_KEY",
                    hint="the kernel's sev-guest driver lacks the ioctl; it has existed since "
                    "Linux 5.19",
                ) from exc
            raise self._error(
                "SNP_GET_DERIVED_KEY", exc, GUEST_REQUEST.unpack(bytes(arg))[3]
            ) from exc
        finally:
            os.close(fd)
        self._check_exitinfo2("SNP_GET_DERIVED_KEY", GUEST_REQUEST.unpack(bytes(arg))[3])
        return key_from_response(resp.raw, f"{self.device} SNP_GET_DERIVED_KEY")

    # --- device access -----------------------------------------------------------------------

    def _open(self) -> int:
        try:
            return os.open(self.device, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise ProviderError(
                f"cannot open {self.device}: {exc.strerror or exc}",
                hint=_OPEN_HINTS.get(exc.errno or 0),
                retryable=exc.errno == errno.EBUSY,
            ) from exc

    def _extended_report(self, fd: int, data: bytes) -> tuple[bytes, tuple[bytes, ...]]:
        certs_len = self._certs_buffer_size
        for _ in range(2):
            outcome = self._request(fd, data, certs_len)
            if isinstance(outcome, int):
                certs_len = outcome
                continue
            return outcome
        raise ProviderError(
            "the host asked twice for a larger certificate buffer",
            hint="the host's certificate blob changed during the request; retry",
            retryable=True,
        )

    def _request(
        self, fd: int, data: bytes, certs_len: int
    ) -> tuple[bytes, tuple[bytes, ...]] | int:
        """One SNP_GET_EXT_REPORT; the certificate length the VMM wants if ours was short."""
        req = ctypes.create_string_buffer(EXT_REPORT_REQ.size)
        resp = ctypes.create_string_buffer(REPORT_RESP_SIZE)
        certs = ctypes.create_string_buffer(certs_len)
        report_req = REPORT_REQ.pack(data, self.vmpl, bytes(28))
        req.raw = EXT_REPORT_REQ.pack(report_req, ctypes.addressof(certs), certs_len)
        arg = bytearray(
            GUEST_REQUEST.pack(MSG_VERSION, ctypes.addressof(req), ctypes.addressof(resp), 0)
        )
        try:
            self._ioctl(fd, SNP_GET_EXT_REPORT, arg)
        except OSError as exc:
            exitinfo2 = GUEST_REQUEST.unpack(bytes(arg))[3]
            vmm_error, fw_error = exitinfo2 >> 32, exitinfo2 & 0xFFFFFFFF
            if vmm_error == SNP_GUEST_VMM_ERR_INVALID_LEN:
                return self._needed_length(req.raw, certs_len)
            if exc.errno in (errno.ENOTTY, errno.EOPNOTSUPP) or (
                vmm_error == SNP_GUEST_VMM_ERR_GENERIC and fw_error == 0
            ):
                return self._plain_report(fd, data), ()
            raise self._error("SNP_GET_EXT_REPORT", exc, exitinfo2) from exc
        self._check_exitinfo2("SNP_GET_EXT_REPORT", GUEST_REQUEST.unpack(bytes(arg))[3])
        report = self._report_from_response(resp.raw, "SNP_GET_EXT_REPORT")
        return report, certificates_from_table(certs.raw, f"{self.device} (SNP_GET_EXT_REPORT)")

    def _needed_length(self, req_raw: bytes, offered: int) -> int:
        needed: int = EXT_REPORT_REQ.unpack(req_raw)[2]
        if needed <= offered or needed > MAX_CERTS_BUFFER or needed % PAGE_SIZE:
            raise ProviderError(
                f"the host rejected a {offered}-byte certificate buffer but asks for"
                f" {needed} bytes",
                hint="the host's certificate configuration is broken; ask the platform"
                " operator, or use provider = configfs-tsm",
            )
        return needed

    def _plain_report(self, fd: int, data: bytes) -> bytes:
        """SNP_GET_REPORT: the report without certificates."""
        req = ctypes.create_string_buffer(
            REPORT_REQ.pack(data, self.vmpl, bytes(28)), REPORT_REQ.size
        )
        resp = ctypes.create_string_buffer(REPORT_RESP_SIZE)
        arg = bytearray(
            GUEST_REQUEST.pack(MSG_VERSION, ctypes.addressof(req), ctypes.addressof(resp), 0)
        )
        try:
            self._ioctl(fd, SNP_GET_REPORT, arg)
        except OSError as exc:
            raise self._error("SNP_GET_REPORT", exc, GUEST_REQUEST.unpack(bytes(arg))[3]) from exc
        self._check_exitinfo2("SNP_GET_REPORT", GUEST_REQUEST.unpack(bytes(arg))[3])
        return self._report_from_response(resp.raw, "SNP_GET_REPORT")

    # --- responses and errors ----------------------------------------------------------------

    def _report_from_response(self, raw: bytes, command: str) -> bytes:
        status, size, _reserved = MSG_REPORT_RSP.unpack_from(raw)
        if status != 0:
            raise ProviderError(
                f"{command}: the SEV firmware refused the report request with status"
                f" {firmware_error_name(status)}",
                hint="INVALID_PARAM usually means a VMPL below the guest's own; check vmpl",
            )
        if size != REPORT_SIZE:
            raise ProviderError(
                f"{command}: MSG_REPORT_RSP says the report is {size} bytes, expected"
                f" {REPORT_SIZE}",
                hint="the firmware speaks a report format Cairn does not know",
            )
        start = MSG_REPORT_RSP.size
        return raw[start : start + REPORT_SIZE]

    def _check_exitinfo2(self, command: str, exitinfo2: int) -> None:
        if exitinfo2:
            raise self._error(command, None, exitinfo2)

    def _error(self, command: str, exc: OSError | None, exitinfo2: int) -> ProviderError:
        vmm_error, fw_error = exitinfo2 >> 32, exitinfo2 & 0xFFFFFFFF
        where = f"{self.device} {command}"
        if vmm_error == SNP_GUEST_VMM_ERR_BUSY:
            return ProviderError(
                f"{where}: the hypervisor is busy (SNP_GUEST_VMM_ERR_BUSY)",
                hint="retry in a moment",
                retryable=True,
            )
        if fw_error:
            return ProviderError(
                f"{where}: SEV firmware error {firmware_error_name(fw_error)}",
                hint="the guest's VMPCK may be disabled after a failed request; reboot the VM"
                " if this persists",
            )
        if vmm_error:
            return ProviderError(
                f"{where}: hypervisor error 0x{vmm_error:x}",
                hint="the host could not complete the guest request; ask the platform operator",
            )
        code = exc.errno if exc is not None else None
        if code in (errno.EBUSY, errno.EAGAIN):
            return ProviderError(f"{where}: device busy", hint="retry", retryable=True)
        if code in (errno.EACCES, errno.EPERM):
            return ProviderError(f"{where}: permission denied", hint=_OPEN_HINTS[errno.EACCES])
        reason = (exc.strerror or str(exc)) if exc is not None else "unexpected exit information"
        return ProviderError(
            f"{where} failed: {reason}",
            hint="see the kernel log (dmesg) for sev-guest messages",
            retryable=code == errno.ETIMEDOUT,
        )
