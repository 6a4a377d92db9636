"""Parse a TCG PC Client event log, as firmware writes it (``binary_bios_measurements``).

Two layouts exist (TCG PC Client Platform Firmware Profile, section 10):

* **crypto-agile** (TPM 2.0 firmware): a ``TCG_PCR_EVENT`` header whose data is the
  ``Spec ID Event03`` structure naming the digest algorithms, then ``TCG_PCR_EVENT2`` events,
  each with one digest per algorithm (``TPML_DIGEST_VALUES``);
* **SHA-1** (older firmware): ``TCG_PCR_EVENT`` events only, one SHA-1 digest each.

Everything is little-endian. Parsing is strict: every size is bounded by what is left of the
log, an event's digests are exactly the algorithms the header declares (each once), and bytes
after the last event are refused, except a run of 0x00 or 0xFF padding when ``allow_fill`` is
set (a CCEL's log area is a fixed-size region). Any defect is a
:class:`~cairn_verifier.errors.ParseError` naming the event and field.
"""

from __future__ import annotations

from typing import Final

from ..binary import Reader
from ..errors import ParseError
from ..tpm.structures import HASH_ALGORITHMS
from .events import (
    COMPONENT,
    MAX_EVENTS,
    MAX_LOG_BYTES,
    SHA1,
    Bank,
    Event,
    EventLog,
    EventType,
    RegisterKind,
    SpecId,
    bank_for,
)

SPEC_ID_SIGNATURE: Final = b"Spec ID Event03\x00"
MAX_BANKS: Final = 16
"""Most digest algorithms a Spec ID event may declare (TPMs implement at most a handful)."""
MAX_DIGEST_BYTES: Final = 64
HINT: Final = (
    "pass the raw binary log (/sys/kernel/security/tpm0/binary_bios_measurements, or the CCEL "
    "from /sys/firmware/acpi/tables/data/CCEL) unmodified"
)


def _reader(data: bytes) -> Reader:
    return Reader(data, "event log", order="little", component=COMPONENT, truncated_hint=HINT)


def _check_size(data: bytes) -> None:
    if len(data) > MAX_LOG_BYTES:
        raise ParseError(
            f"the event log is {len(data)} bytes, more than the {MAX_LOG_BYTES} read",
            component=COMPONENT,
            field="event log",
        )
    if not data:
        raise ParseError(
            "the event log is empty", component=COMPONENT, field="event log", hint=HINT
        )


def _parse_spec_id(data: bytes) -> SpecId:
    reader = Reader(data, "Spec ID event", order="little", component=COMPONENT, truncated_hint=HINT)
    reader.take(len(SPEC_ID_SIGNATURE), "signature")
    platform_class = reader.u32("platformClass")
    minor = reader.u8("specVersionMinor")
    major = reader.u8("specVersionMajor")
    errata = reader.u8("specErrata")
    uintn_size = reader.u8("uintnSize")
    if major != 2:
        raise reader.error(f"spec version {major}.{minor} is not 2.x", "specVersionMajor")
    if uintn_size not in (1, 2):
        raise reader.error(f"uintnSize {uintn_size} is neither 1 nor 2", "uintnSize")
    count = reader.u32("numberOfAlgorithms")
    if not 1 <= count <= MAX_BANKS:
        raise reader.error(
            f"numberOfAlgorithms {count} is not between 1 and {MAX_BANKS}", "numberOfAlgorithms"
        )
    banks: list[Bank] = []
    for index in range(count):
        alg = reader.u16(f"digestSizes[{index}].algorithmId")
        size = reader.u16(f"digestSizes[{index}].digestSize")
        if not 1 <= size <= MAX_DIGEST_BYTES:
            raise reader.error(f"digest size {size} of algorithm 0x{alg:04x}", "digestSize")
        bank = bank_for(alg, size)
        if bank.supported and size != _known_size(bank):
            raise reader.error(
                f"{bank.name} digests are {_known_size(bank)} bytes, the header says {size}",
                f"digestSizes[{index}].digestSize",
            )
        if any(b.alg == alg for b in banks):
            raise reader.error(f"algorithm {bank.name} is listed twice", "digestSizes")
        banks.append(bank)
    vendor_size = reader.u8("vendorInfoSize")
    vendor_info = reader.take(vendor_size, "vendorInfo")
    reader.finish()
    return SpecId(platform_class, (major, minor, errata), uintn_size, tuple(banks), vendor_info)


def _known_size(bank: Bank) -> int:
    return HASH_ALGORITHMS[bank.alg].size


def _read_sha1_event(reader: Reader, number: int) -> Event:
    start = reader.offset
    where = f"event {number}"
    register = reader.u32(f"{where}.pcrIndex")
    event_type = reader.u32(f"{where}.eventType")
    digest = reader.take(SHA1.size, f"{where}.digest")
    size = reader.u32(f"{where}.eventSize")
    data = reader.take(size, f"{where}.event")
    return Event(number, start, register, event_type, {SHA1.name: digest}, data)


def _read_event2(reader: Reader, number: int, banks: tuple[Bank, ...]) -> Event:
    start = reader.offset
    where = f"event {number}"
    register = reader.u32(f"{where}.pcrIndex")
    event_type = reader.u32(f"{where}.eventType")
    count = reader.u32(f"{where}.digests.count")
    if count != len(banks):
        raise reader.error(
            f"{where} has {count} digests; the log declares {len(banks)} algorithms "
            f"({', '.join(b.name for b in banks)})",
            f"{where}.digests.count",
            start,
        )
    by_alg = {bank.alg: bank for bank in banks}
    digests: dict[str, bytes] = {}
    for index in range(count):
        alg = reader.u16(f"{where}.digests[{index}].hashAlg")
        bank = by_alg.get(alg)
        if bank is None:
            raise reader.error(
                f"{where} has a digest of algorithm 0x{alg:04x}, which the header does not declare",
                f"{where}.digests[{index}].hashAlg",
            )
        if bank.name in digests:
            raise reader.error(f"{where} has two {bank.name} digests", f"{where}.digests")
        digests[bank.name] = reader.take(bank.size, f"{where}.digests[{index}].digest")
    size = reader.u32(f"{where}.eventSize")
    data = reader.take(size, f"{where}.event")
    return Event(number, start, register, event_type, digests, data)


def _fill_length(reader: Reader) -> int:
    """Length of the 0x00/0xFF run that ends the log at the cursor (0 if it is not one)."""
    rest = reader.data[reader.offset : reader.end]
    if rest and (rest.count(0) == len(rest) or rest.count(0xFF) == len(rest)):
        return len(rest)
    return 0


def _at_fill(reader: Reader) -> bool:
    """Whether the next event header is fill: pcrIndex and eventType both 0xFFFFFFFF or 0."""
    head = reader.data[reader.offset : min(reader.end, reader.offset + 8)]
    return len(head) == 8 and head in (b"\xff" * 8, b"\x00" * 8) and _fill_length(reader) > 0


def parse_tcg_log(
    data: bytes, *, register_kind: RegisterKind = "pcr", allow_fill: bool = False
) -> EventLog:
    """Parse a TCG PC Client event log (crypto-agile or SHA-1 layout; see the module)."""
    _check_size(data)
    reader = _reader(data)
    header = _read_sha1_event(reader, 0)
    spec: SpecId | None = None
    if header.event_type == EventType.EV_NO_ACTION and header.data.startswith(
        SPEC_ID_SIGNATURE[:-1]
    ):
        if header.register != 0 or any(header.digests[SHA1.name]):
            raise reader.error(
                "the Spec ID header event must be on PCR 0 with a zero digest", "event 0", 0
            )
        if not header.data.startswith(SPEC_ID_SIGNATURE):
            raise reader.error(
                f"unsupported header {header.data[:16]!r} (only Spec ID Event03 is read)",
                "event 0.event",
                32,
            )
        spec = _parse_spec_id(header.data)
    events: list[Event] = [header]
    fill = 0
    while reader.remaining:
        if allow_fill and _at_fill(reader):
            fill = _fill_length(reader)
            break
        if len(events) >= MAX_EVENTS:
            raise reader.error(f"more than {MAX_EVENTS} events", "events")
        number = len(events)
        if spec is None:
            events.append(_read_sha1_event(reader, number))
        else:
            events.append(_read_event2(reader, number, spec.banks))
    if spec is None:
        return EventLog("tcg-sha1", register_kind, (SHA1,), tuple(events), trailing_fill=fill)
    return EventLog("tcg2", register_kind, spec.banks, tuple(events), spec, trailing_fill=fill)
