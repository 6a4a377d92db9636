"""TDX TDREPORTs through ``/dev/tdx_guest`` (Linux UAPI ``linux/tdx-guest.h``) — diagnostics only.

``TDX_CMD_GET_REPORT0`` returns a TDREPORT: it is MAC'd with a key only this CPU knows, so
nobody off the machine can verify it. A verifiable TDX *quote* comes from the quoting enclave
on the host, which Linux exposes through configfs-tsm (Linux >= 6.7, a QGS on the host).
This provider therefore never produces evidence: ``get_evidence`` always raises a
ProviderError saying so, and ``get_tdreport`` returns the TDREPORT for diagnostics (e.g.
reading the TD's measurements locally). ``tdreport_only=True`` acknowledges this setup.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from pathlib import Path

from .base import ProviderError, TeeEvidence, TeeKind
from .sev_guest import IoctlFn, check_report_data, iowr

REPORT_DATA_SIZE = 64
TDREPORT_SIZE = 1024
TDX_REPORT_REQ = struct.Struct(f"<{REPORT_DATA_SIZE}s{TDREPORT_SIZE}s")
"""tdx_report_req {reportdata[64], tdreport[1024]}."""
TDX_CMD_GET_REPORT0 = iowr("T", 1, TDX_REPORT_REQ.size)

REPORT_TYPE_TDX = 0x81
"""REPORTMACSTRUCT.REPORTTYPE.TYPE for a TD."""
TDREPORT_REPORT_DATA_OFFSET = 128
"""REPORTDATA inside REPORTMACSTRUCT (type 8, reserved 8, CPUSVN 16, two SHA-384 hashes)."""

QUOTE_HINT = (
    "a verifiable TDX quote needs configfs-tsm: Linux >= 6.7 in the guest and a quote"
    " generation service (QGS) on the host; configure provider = configfs-tsm"
)


def _real_ioctl(fd: int, request: int, arg: bytearray) -> None:
    fcntl.ioctl(fd, request, arg, True)


class TdxGuestProvider:
    """TDREPORTs from ``/dev/tdx_guest``; cannot produce remotely verifiable evidence."""

    name = "tdx-guest"
    kinds: tuple[TeeKind, ...] = ("tdx",)

    def __init__(
        self,
        device: Path = Path("/dev/tdx_guest"),
        ioctl: IoctlFn | None = None,
        *,
        tdreport_only: bool = False,
    ):
        self.device = Path(device)
        self.tdreport_only = tdreport_only
        self._ioctl = ioctl or _real_ioctl

    def describe(self) -> str:
        mode = "TDREPORT diagnostics only" if self.tdreport_only else "no quotes (misconfigured)"
        return f"tdx-guest: {self.device}, {mode}"

    def get_evidence(self, report_data: bytes) -> TeeEvidence:
        check_report_data(report_data)
        if self.tdreport_only:
            raise ProviderError(
                "tdx-guest is configured for TDREPORT diagnostics only: a TDREPORT is MAC'd"
                " with a CPU-local key and cannot be verified remotely, so it is never served"
                " as evidence",
                hint=QUOTE_HINT,
            )
        raise ProviderError(
            f"{self.device} only gives a TDREPORT, not a verifiable TDX quote",
            hint=QUOTE_HINT,
        )

    def get_tdreport(self, report_data: bytes) -> bytes:
        """The 1024-byte TDREPORT_STRUCT whose REPORTDATA is ``report_data``."""
        data = check_report_data(report_data)
        try:
            fd = os.open(self.device, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise ProviderError(
                f"cannot open {self.device}: {exc.strerror or exc}",
                hint="is this a TDX guest with the tdx-guest driver loaded?"
                if exc.errno == errno.ENOENT
                else "run the agent as root",
            ) from exc
        arg = bytearray(TDX_REPORT_REQ.pack(data, bytes(TDREPORT_SIZE)))
        try:
            self._ioctl(fd, TDX_CMD_GET_REPORT0, arg)
        except OSError as exc:
            raise ProviderError(
                f"{self.device} TDX_CMD_GET_REPORT0 failed: {exc.strerror or exc}",
                hint="see the kernel log (dmesg) for tdx_guest messages",
                retryable=exc.errno in (errno.EBUSY, errno.EAGAIN),
            ) from exc
        finally:
            os.close(fd)
        if len(arg) != TDX_REPORT_REQ.size:
            raise ProviderError(f"{self.device}: the ioctl changed the request size")
        raw = bytes(arg)
        echoed, tdreport = raw[:REPORT_DATA_SIZE], raw[REPORT_DATA_SIZE:]
        if tdreport[0] != REPORT_TYPE_TDX:
            raise ProviderError(
                f"{self.device} returned a report of type 0x{tdreport[0]:02x}, not a TDREPORT"
                f" (0x{REPORT_TYPE_TDX:02x})"
            )
        start = TDREPORT_REPORT_DATA_OFFSET
        if tdreport[start : start + REPORT_DATA_SIZE] != data or echoed != data:
            raise ProviderError(f"{self.device} returned a TDREPORT for another REPORT_DATA")
        return tdreport
