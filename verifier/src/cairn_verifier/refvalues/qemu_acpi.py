"""The ACPI data QEMU hands a TDVF through fw_cfg, as RTMR[0] measures it.

QEMU builds three fw_cfg files for the machine (its version, machine type, vCPUs, memory,
devices): ``etc/table-loader`` (the linker/loader script: 128-byte commands), ``etc/acpi/rsdp``
(the RSDP) and ``etc/acpi/tables`` (every other table, zero-padded). TDVF hashes each as read.
A guest of the same configuration shows them as
``/sys/firmware/qemu_fw_cfg/by_name/etc/{table-loader,acpi/rsdp,acpi/tables}/raw`` (Linux's
``qemu_fw_cfg`` module); Cairn reads them from one directory as ``table-loader``, ``rsdp`` and
``tables``, or takes their three SHA-384 digests from a known-good event log.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Final

from ..errors import MalformedInputError
from ..input_files import read_bounded, require_regular_file
from .tdx_rtmr0 import ACPI_BLOBS

COMPONENT: Final = "QEMU ACPI data"
LOADER_ENTRY: Final = 128
LOADER_COMMANDS: Final = frozenset({0, 1, 2, 3, 4})
"""Padding, ALLOCATE, ADD_POINTER, ADD_CHECKSUM, WRITE_POINTER (QEMU's bios-linker-loader)."""
ALLOCATE: Final = 1
ALLOCATED_FILES: Final = [b"etc/acpi/rsdp", b"etc/acpi/tables"]
"""What the loader must allocate, in this order: TDVF measures each file as it allocates it
(after the loader itself), the order RTMR[0] is computed in."""
LIMITS: Final = {"table-loader": 1 << 20, "rsdp": 36, "tables": 16 << 20}
CAPTURE_HINT: Final = (
    "copy them from a guest of the same VM configuration: "
    "/sys/firmware/qemu_fw_cfg/by_name/etc/table-loader/raw, …/etc/acpi/rsdp/raw and "
    "…/etc/acpi/tables/raw (modprobe qemu_fw_cfg) into DIR/table-loader, DIR/rsdp, DIR/tables"
)


def _fail(name: str, message: str) -> MalformedInputError:
    return MalformedInputError(f"{name}: {message}", component=COMPONENT, hint=CAPTURE_HINT)


def check_table_loader(data: bytes) -> None:
    if not data or len(data) % LOADER_ENTRY:
        raise _fail("table-loader", f"{len(data)} bytes is not a whole number of 128-byte commands")
    commands = [struct.unpack_from("<I", data, at)[0] for at in range(0, len(data), LOADER_ENTRY)]
    unknown = next((c for c in commands if c not in LOADER_COMMANDS), None)
    if unknown is not None:
        raise _fail("table-loader", f"unknown loader command 0x{unknown:x}")
    allocated = [
        data[at + 4 : at + 60].rstrip(b"\0")
        for at, command in zip(range(0, len(data), LOADER_ENTRY), commands, strict=True)
        if command == ALLOCATE
    ]
    if allocated != ALLOCATED_FILES:
        names = ", ".join(repr(name.decode("ascii", "replace")) for name in allocated) or "none"
        raise _fail(
            "table-loader",
            f"allocates {names}; RTMR[0] is computed for exactly 'etc/acpi/rsdp' then "
            "'etc/acpi/tables' (other fw_cfg files would be measured too)",
        )


def check_rsdp(data: bytes) -> None:
    if data[:8] != b"RSD PTR ":
        raise _fail("rsdp", "does not start with the 'RSD PTR ' signature")
    if len(data) < 20:
        raise _fail("rsdp", f"{len(data)} bytes is shorter than an RSDP (20)")
    revision = data[15]
    expected = 20 if revision == 0 else 36
    if len(data) != expected:
        raise _fail("rsdp", f"{len(data)} bytes for revision {revision} (expected {expected})")


def check_tables(data: bytes) -> None:
    """ACPI tables one after the other (4 printable signature bytes, a length), then zeros."""
    at, count = 0, 0
    while at + 8 <= len(data) and data[at : at + 4] != bytes(4):
        signature = data[at : at + 4]
        (length,) = struct.unpack_from("<I", data, at + 4)
        if not all(0x20 < byte < 0x7F for byte in signature):
            raise _fail("tables", f"no ACPI table signature at offset 0x{at:x}")
        if length < 8 or at + length > len(data):
            raise _fail("tables", f"table {signature.decode()} at 0x{at:x} has length {length}")
        at, count = at + length, count + 1
    if not count:
        raise _fail("tables", "holds no ACPI table")
    if any(data[at:]):
        raise _fail("tables", f"bytes after the last table (offset 0x{at:x}) are not padding")


CHECKS: Final = {"table-loader": check_table_loader, "rsdp": check_rsdp, "tables": check_tables}


def read_acpi_digests(directory: Path) -> tuple[bytes, ...]:
    """The SHA-384 of ``table-loader``, ``rsdp`` and ``tables`` in ``directory``, each checked."""
    digests = []
    for name in ACPI_BLOBS:
        path = directory / name
        require_regular_file(path, f"ACPI {name}", limit=LIMITS[name], component=COMPONENT)
        data = read_bounded(path, LIMITS[name])
        CHECKS[name](data)
        digests.append(hashlib.sha384(data).digest())
    return tuple(digests)


def parse_acpi_digests(text: str) -> tuple[bytes, ...]:
    """``--acpi-digests LOADER,RSDP,TABLES``: three SHA-384 digests in hex."""
    parts = [part.strip().lower().removeprefix("0x") for part in text.split(",")]
    digests = []
    for part in parts:
        try:
            digest = bytes.fromhex(part)
        except ValueError:
            digest = b""
        if len(digest) != 48:
            break
        digests.append(digest)
    if len(parts) != len(ACPI_BLOBS) or len(digests) != len(ACPI_BLOBS):
        raise MalformedInputError(
            f"--acpi-digests is not three comma-separated SHA-384 digests: {text[:300]!r}",
            component=COMPONENT,
            hint="give the digests of the three 'ACPI DATA' RTMR[0] events of a known-good event "
            "log of this VM configuration, in log order (table-loader, rsdp, tables)",
        )
    return tuple(digests)
