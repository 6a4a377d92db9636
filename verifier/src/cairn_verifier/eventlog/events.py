"""The parsed form of a measurement event log: banks, events, and the log itself.

One model for every log Cairn reads: a TPM's TCG PC Client log (crypto-agile, or the SHA-1
format of older firmware), the TDX firmware's CCEL, and the JSON event log dstack hands out.
A log extends *registers*: TPM PCRs (``pcr``) or TDX RTMRs (``rtmr``); each event carries one
digest per *bank* (hash algorithm) the log declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final, Literal

from ..tpm.structures import HASH_ALGORITHMS

COMPONENT: Final = "event log"
RegisterKind = Literal["pcr", "rtmr"]
LogFormat = Literal["tcg2", "tcg-sha1", "ccel", "dstack-json"]

MAX_LOG_BYTES: Final = 16 * 1024 * 1024
"""Largest log read (the evidence bundle's ``tpm.event_log`` limit; real logs are < 1 MiB)."""
MAX_EVENTS: Final = 100_000
"""Most events read from one log (real firmware logs hold a few hundred)."""


class EventType(IntEnum):
    """TCG PC Client Platform Firmware Profile event types (section 10.4.1)."""

    EV_PREBOOT_CERT = 0x0
    EV_POST_CODE = 0x1
    EV_UNUSED = 0x2
    EV_NO_ACTION = 0x3
    EV_SEPARATOR = 0x4
    EV_ACTION = 0x5
    EV_EVENT_TAG = 0x6
    EV_S_CRTM_CONTENTS = 0x7
    EV_S_CRTM_VERSION = 0x8
    EV_CPU_MICROCODE = 0x9
    EV_PLATFORM_CONFIG_FLAGS = 0xA
    EV_TABLE_OF_DEVICES = 0xB
    EV_COMPACT_HASH = 0xC
    EV_IPL = 0xD
    EV_IPL_PARTITION_DATA = 0xE
    EV_NONHOST_CODE = 0xF
    EV_NONHOST_CONFIG = 0x10
    EV_NONHOST_INFO = 0x11
    EV_OMIT_BOOT_DEVICE_EVENTS = 0x12
    EV_POST_CODE2 = 0x13
    EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001
    EV_EFI_VARIABLE_BOOT = 0x80000002
    EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003
    EV_EFI_BOOT_SERVICES_DRIVER = 0x80000004
    EV_EFI_RUNTIME_SERVICES_DRIVER = 0x80000005
    EV_EFI_GPT_EVENT = 0x80000006
    EV_EFI_ACTION = 0x80000007
    EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x80000008
    EV_EFI_HANDOFF_TABLES = 0x80000009
    EV_EFI_PLATFORM_FIRMWARE_BLOB2 = 0x8000000A
    EV_EFI_HANDOFF_TABLES2 = 0x8000000B
    EV_EFI_VARIABLE_BOOT2 = 0x8000000C
    EV_EFI_GPT_EVENT2 = 0x8000000D
    EV_EFI_HCRTM_EVENT = 0x80000010
    EV_EFI_VARIABLE_AUTHORITY = 0x800000E0
    EV_EFI_SPDM_FIRMWARE_BLOB = 0x800000E1
    EV_EFI_SPDM_FIRMWARE_CONFIG = 0x800000E2


def event_type_name(value: int) -> str:
    """``EV_…`` for a known type, else ``0x…``."""
    try:
        return EventType(value).name
    except ValueError:
        return f"0x{value:08x}"


@dataclass(frozen=True)
class Bank:
    """A hash algorithm of the log: its TPM_ALG_ID, name (tpm2-tools spelling) and digest size.

    ``supported`` is False for an algorithm Python cannot compute (e.g. SM3): its digests are
    read but that bank is not replayed.
    """

    alg: int
    name: str
    size: int

    @property
    def supported(self) -> bool:
        return self.alg in HASH_ALGORITHMS

    def extend(self, value: bytes, digest: bytes) -> bytes:
        """``H(value ‖ digest)``: a TPM PCR extend (and a TDX RTMR extend, with SHA-384)."""
        return HASH_ALGORITHMS[self.alg].digest(value + digest)

    def digest(self, data: bytes) -> bytes:
        return HASH_ALGORITHMS[self.alg].digest(data)


def bank_for(alg: int, size: int) -> Bank:
    """The bank of TPM_ALG_ID ``alg`` (named ``alg_0x…`` when Python cannot compute it)."""
    known = HASH_ALGORITHMS.get(alg)
    return Bank(alg, known.name if known else f"alg_0x{alg:04x}", size)


SHA1: Final = bank_for(0x0004, 20)
SHA384: Final = bank_for(0x000C, 48)


@dataclass(frozen=True)
class Event:
    """One event: which register it extends, its type, one digest per bank, and its data.

    ``number`` counts events from 0 (the log's header event in TCG logs); ``offset`` is where
    it starts in the log's bytes (None for logs that are not binary). ``label`` is a name the
    log itself gives the event (dstack's JSON does), else empty.
    """

    number: int
    offset: int | None
    register: int
    event_type: int
    digests: Mapping[str, bytes]
    data: bytes
    label: str = ""

    @property
    def type_name(self) -> str:
        return event_type_name(self.event_type)

    @property
    def extends(self) -> bool:
        """Whether firmware extended a register with it (EV_NO_ACTION events extend nothing)."""
        return self.event_type != EventType.EV_NO_ACTION


@dataclass(frozen=True)
class SpecId:
    """The ``Spec ID Event03`` header of a crypto-agile log (TCG PFP section 10.4.5.1)."""

    platform_class: int
    version: tuple[int, int, int]
    uintn_size: int
    banks: tuple[Bank, ...]
    vendor_info: bytes


@dataclass(frozen=True)
class EventLog:
    """A whole parsed log.

    ``register_kind`` says what the register numbers mean; ``banks`` are the log's hash
    algorithms in the order it declares them; ``events`` include the header event of TCG logs
    (an EV_NO_ACTION event, extending nothing).
    """

    format: LogFormat
    register_kind: RegisterKind
    banks: tuple[Bank, ...]
    events: tuple[Event, ...]
    spec: SpecId | None = None
    trailing_fill: int = 0
    """Bytes of 0x00 or 0xFF padding after the last event (a CCEL's unused log area)."""
    notes: tuple[str, ...] = field(default=())

    def register_name(self, index: int) -> str:
        return f"RTMR[{index}]" if self.register_kind == "rtmr" else f"PCR {index}"

    def bank(self, name: str) -> Bank | None:
        return next((bank for bank in self.banks if bank.name == name), None)
