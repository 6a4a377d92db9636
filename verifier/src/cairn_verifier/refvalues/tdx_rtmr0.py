"""RTMR[0] of a TD that QEMU boots directly with a TDVF (OVMF before edk2-stable202505).

TDVF extends RTMR[0] (PCR 0, 1 and 7) with, in order (the events of a real TD's CCEL,
``tests/vectors/eventlog/dstack``):

1. the **TD HOB** QEMU wrote into the firmware's TD_HOB section (event 0x8000000B): a PHIT
   HOB, then one resource descriptor per RAM range of QEMU's memory map, ranges the VMM
   accepted (the TD_HOB and TempMem sections) as system memory, the rest as unaccepted
   memory, sorted by address; hashed up to, not including, the end-of-list HOB;
2. the **configuration firmware volume** (CFV section, the variable store; 0x8000000A);
3. the Secure Boot variables ``SecureBoot``, ``PK``, ``KEK``, ``db``, ``dbx``
   (``EV_EFI_VARIABLE_DRIVER_CONFIG``, digest of the whole ``UEFI_VARIABLE_DATA``; empty:
   nothing enrolled);
4. the separator;
5. the three ACPI blobs QEMU hands over through fw_cfg (``EV_PLATFORM_CONFIG_FLAGS`` "ACPI
   DATA"): ``etc/table-loader``, ``etc/acpi/rsdp``, ``etc/acpi/tables``, each hashed as read;
6. the boot variables (``EV_EFI_VARIABLE_BOOT``, digest of the variable's data only):
   ``BootOrder`` = {0} and ``Boot0000``, the boot-manager menu OVMF registers (UiApp, hidden,
   in OVMF's DXE firmware volume).

edk2-stable202505 and later measure four more events (fw_cfg ``bootmenu`` and ``bootorder``, an
``EV_EFI_VARIABLE_AUTHORITY``, a second boot option): that layout is not computed here.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ..errors import CairnError, ExitCode, MalformedInputError
from .tdvf import PAGE, TdvfSection

if TYPE_CHECKING:
    from ..eventlog import EventLog

COMPONENT: Final = "TDX RTMR[0]"
TD_HOB: Final = 2
TEMP_MEM: Final = 3
CFV: Final = 1
FOUR_GIB: Final = 1 << 32
Q35_HIGH_MEMORY: Final = 0xB0000000
"""From this much RAM on, q35 keeps only 2 GiB below 4 GiB."""
EFI_GLOBAL_VARIABLE: Final = uuid.UUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
EFI_IMAGE_SECURITY_DATABASE: Final = uuid.UUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f")
SECURE_BOOT_VARIABLES: Final = (
    (EFI_GLOBAL_VARIABLE, "SecureBoot"),
    (EFI_GLOBAL_VARIABLE, "PK"),
    (EFI_GLOBAL_VARIABLE, "KEK"),
    (EFI_IMAGE_SECURITY_DATABASE, "db"),
    (EFI_IMAGE_SECURITY_DATABASE, "dbx"),
)
OVMF_DXE_FV: Final = uuid.UUID("7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1")
"""OVMF's DXEFV ``FvNameGuid`` (OvmfPkgX64.fdf)."""
OVMF_UIAPP: Final = uuid.UUID("462caa21-7614-4503-836e-8ab6f4662331")
"""UiApp's FILE_GUID: OVMF's ``PcdBootManagerMenuFile`` before edk2-stable202505."""
LOAD_OPTION_ACTIVE: Final = 0x1
LOAD_OPTION_HIDDEN: Final = 0x8
LOAD_OPTION_CATEGORY_APP: Final = 0x100
SEPARATOR: Final = b"\x00\x00\x00\x00"
ACPI_BLOBS: Final = ("table-loader", "rsdp", "tables")
"""The fw_cfg files (``etc/table-loader``, ``etc/acpi/rsdp``, ``etc/acpi/tables``) in the
order TDVF measures them."""
HOB_HANDOFF: Final = 0x0001
HOB_RESOURCE_DESCRIPTOR: Final = 0x0003
HOB_HANDOFF_VERSION: Final = 9
RESOURCE_SYSTEM_MEMORY: Final = 0x0
RESOURCE_MEMORY_UNACCEPTED: Final = 0x7
RESOURCE_ATTRIBUTES: Final = 0x7
"""PRESENT | INITIALIZED | TESTED: what QEMU (upstream ``hw/i386/tdvf-hob.h``) gives both."""
END_OF_HOB_LIST_SIZE: Final = 8
EV_PLATFORM_CONFIG_FLAGS: Final = 0xA
ACPI_EVENT_DATA: Final = b"ACPI DATA"


class Rtmr0MismatchError(CairnError):
    """A known-good event log's RTMR[0] events differ from the ones computed for its VM."""

    exit_code = ExitCode.CONTENT_MISMATCH


def _sha384(data: bytes) -> bytes:
    return hashlib.sha384(data).digest()


def _fail(message: str, hint: str | None = None) -> MalformedInputError:
    return MalformedInputError(message, component=COMPONENT, hint=hint)


@dataclass(frozen=True)
class RamRange:
    address: int
    length: int
    accepted: bool


def ram_ranges(sections: Sequence[TdvfSection], memory: int) -> list[RamRange]:
    """QEMU's TDX RAM list: the q35 memory map's RAM, the TD_HOB and TempMem sections
    accepted (each splits the range holding it), sorted by address."""
    if memory <= 0 or memory % PAGE:
        raise _fail(f"the memory size {memory} is not a positive multiple of 4 KiB")
    below = FOUR_GIB // 2 if memory >= Q35_HIGH_MEMORY else memory
    ranges = [RamRange(0, below, False)]
    if memory > below:
        ranges.append(RamRange(FOUR_GIB, memory - below, False))
    for section in sections:
        if section.type not in (TD_HOB, TEMP_MEM) or not section.memory_size:
            continue
        start, end = section.address, section.address + section.memory_size
        holder = next((r for r in ranges if start < r.address + r.length and end > r.address), None)
        if holder is None or holder.accepted:
            if holder is None:
                raise _fail(
                    f"the {section.type_name} section at 0x{start:x} lies outside the TD's "
                    f"{memory} bytes of memory",
                    hint="--memory must be the TD's memory size",
                )
            continue
        if start < holder.address or end > holder.address + holder.length:
            raise _fail(f"the {section.type_name} section at 0x{start:x} crosses a RAM range")
        ranges.remove(holder)
        ranges.append(RamRange(start, section.memory_size, True))
        if start > holder.address:
            ranges.append(RamRange(holder.address, start - holder.address, False))
        if end < holder.address + holder.length:
            ranges.append(RamRange(end, holder.address + holder.length - end, False))
    return sorted(ranges, key=lambda r: r.address)


def td_hob(sections: Sequence[TdvfSection], memory: int) -> bytes:
    """The TD HOB as QEMU writes it (``hw/i386/tdvf-hob.c``), without the end-of-list HOB
    TDVF leaves out of the measurement."""
    hob_section = next((s for s in sections if s.type == TD_HOB), None)
    if hob_section is None:
        raise _fail("the firmware's TDVF metadata has no TD_HOB section")
    resources = b"".join(
        struct.pack(
            "<HHI16sIIQQ",
            HOB_RESOURCE_DESCRIPTOR,
            48,
            0,
            bytes(16),
            RESOURCE_SYSTEM_MEMORY if r.accepted else RESOURCE_MEMORY_UNACCEPTED,
            RESOURCE_ATTRIBUTES,
            r.address,
            r.length,
        )
        for r in ram_ranges(sections, memory)
    )
    phit_size = 56
    end_of_list = hob_section.address + phit_size + len(resources) + END_OF_HOB_LIST_SIZE
    if phit_size + len(resources) + END_OF_HOB_LIST_SIZE > hob_section.memory_size:
        raise _fail("the TD HOB does not fit the firmware's TD_HOB section")
    phit = struct.pack("<HHIII", HOB_HANDOFF, phit_size, 0, HOB_HANDOFF_VERSION, 0)
    phit += bytes(32) + struct.pack("<Q", end_of_list)
    return phit + resources


def cfv_image(firmware: bytes, sections: Sequence[TdvfSection]) -> bytes:
    """The configuration firmware volume's bytes (the CFV section's raw data)."""
    cfv = next((s for s in sections if s.type == CFV), None)
    if cfv is None or not cfv.raw_size:
        raise _fail("the firmware's TDVF metadata has no CFV section")
    return firmware[cfv.data_offset : cfv.data_offset + cfv.raw_size]


def uefi_variable_data(vendor: uuid.UUID, name: str, data: bytes = b"") -> bytes:
    """``UEFI_VARIABLE_DATA`` (TCG PC Client PFP): GUID, name length in CHAR16, data length,
    the name in UTF-16LE (no NUL), the data."""
    encoded = name.encode("utf-16-le")
    return vendor.bytes_le + struct.pack("<QQ", len(encoded) // 2, len(data)) + encoded + data


def _device_path_node(kind: int, subtype: int, payload: bytes) -> bytes:
    return struct.pack("<BBH", kind, subtype, 4 + len(payload)) + payload


def uiapp_boot_option() -> bytes:
    """``Boot0000``: the ``EFI_LOAD_OPTION`` of OVMF's boot-manager menu (UiApp), hidden,
    at ``Fv(DXEFV)/FvFile(UiApp)``."""
    path = (
        _device_path_node(0x04, 0x07, OVMF_DXE_FV.bytes_le)  # MEDIA_PIWG_FW_VOL_DP
        + _device_path_node(0x04, 0x06, OVMF_UIAPP.bytes_le)  # MEDIA_PIWG_FW_FILE_DP
        + _device_path_node(0x7F, 0xFF, b"")  # end of the device path
    )
    attributes = LOAD_OPTION_ACTIVE | LOAD_OPTION_HIDDEN | LOAD_OPTION_CATEGORY_APP
    description = "UiApp\x00".encode("utf-16-le")
    return struct.pack("<IH", attributes, len(path)) + description + path


@dataclass(frozen=True)
class Rtmr0Event:
    name: str
    digest: bytes


def rtmr0_events(
    td_hob_bytes: bytes, cfv: bytes, acpi_digests: Sequence[bytes]
) -> list[Rtmr0Event]:
    """RTMR[0]'s events in TDVF's order (see the module); ``acpi_digests`` are the SHA-384
    of ``etc/table-loader``, ``etc/acpi/rsdp`` and ``etc/acpi/tables``, in that order."""
    if len(acpi_digests) != len(ACPI_BLOBS) or any(len(d) != 48 for d in acpi_digests):
        raise _fail("RTMR[0] needs three SHA-384 ACPI digests (table-loader, rsdp, tables)")
    events = [Rtmr0Event("td-hob", _sha384(td_hob_bytes)), Rtmr0Event("cfv", _sha384(cfv))]
    events += [
        Rtmr0Event(name, _sha384(uefi_variable_data(vendor, name)))
        for vendor, name in SECURE_BOOT_VARIABLES
    ]
    events.append(Rtmr0Event("separator", _sha384(SEPARATOR)))
    events += [
        Rtmr0Event(f"acpi {name}", digest)
        for name, digest in zip(ACPI_BLOBS, acpi_digests, strict=True)
    ]
    events.append(Rtmr0Event("BootOrder", _sha384(struct.pack("<H", 0))))
    events.append(Rtmr0Event("Boot0000", _sha384(uiapp_boot_option())))
    return events


def _rtmr0_log_events(log: EventLog) -> list[bytes]:
    if log.register_kind != "rtmr" or log.bank("sha384") is None:
        raise _fail(
            "the event log is not a TDX log (a CCEL or dstack's JSON log: SHA-384, RTMRs)",
            hint="pass the CCEL of a TD of this configuration "
            "(/sys/firmware/acpi/tables/data/CCEL) or dstack's event log",
        )
    return [e.digests["sha384"] for e in log.events if e.extends and e.register == 0]


def acpi_digests_from_log(log: EventLog) -> tuple[bytes, ...]:
    """The digests of RTMR[0]'s three "ACPI DATA" events, in log order."""
    _rtmr0_log_events(log)
    digests = tuple(
        e.digests["sha384"]
        for e in log.events
        if e.extends
        and e.register == 0
        and e.event_type == EV_PLATFORM_CONFIG_FLAGS
        and e.data == ACPI_EVENT_DATA
    )
    if len(digests) != len(ACPI_BLOBS):
        raise _fail(
            f"the event log has {len(digests)} 'ACPI DATA' events in RTMR[0], not "
            f"{len(ACPI_BLOBS)} (table-loader, rsdp, tables)"
        )
    return digests


def check_against_log(events: Sequence[Rtmr0Event], log: EventLog) -> None:
    """Refuse computed events that differ from a known-good log's RTMR[0] events."""
    logged = _rtmr0_log_events(log)
    if len(logged) != len(events):
        raise Rtmr0MismatchError(
            f"the event log's RTMR[0] has {len(logged)} events, the layout computed has "
            f"{len(events)}: another firmware (edk2-stable202505 or later?) or configuration",
            component=COMPONENT,
            hint="pin RTMR[0] from a known-good quote with --rtmr0 instead",
        )
    differing = [e.name for e, digest in zip(events, logged, strict=True) if e.digest != digest]
    if differing:
        raise Rtmr0MismatchError(
            "the event log's RTMR[0] events differ from the ones computed for these inputs: "
            + ", ".join(differing),
            component=COMPONENT,
            hint="--firmware and --memory must be the VM's that wrote the log (td-hob: the memory"
            " size and TDVF layout; cfv: the firmware's variable store); other events: another"
            " firmware or Secure Boot setup — pin RTMR[0] with --rtmr0 instead",
        )
