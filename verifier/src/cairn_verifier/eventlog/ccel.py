"""Intel TDX event logs: the firmware's CCEL, and the JSON form dstack hands out.

**CCEL** (the ACPI ``CCEL`` table's log area, ``/sys/firmware/acpi/tables/data/CCEL``): a
crypto-agile TCG log with SHA-384 digests whose ``pcrIndex`` field holds the *MR index* of the
UEFI CC Measurement Protocol: 1 = RTMR[0], 2 = RTMR[1], 3 = RTMR[2], 4 = RTMR[3] (0 would be
MRTD, which no event extends). TDVF maps PCR 0/1/7 to RTMR[0], PCR 2-6 to RTMR[1] and PCR 8-15
to RTMR[2]. The log area is fixed-size: the events are followed by 0xFF (or 0x00) fill.

**dstack JSON** (``event_log`` of dstack's GetQuote/attestation answers): a JSON list of
``{"imr", "event_type", "digest", "event", "event_payload"}`` objects, ``imr`` the RTMR index,
``digest`` the SHA-384 digest in hex for firmware events (the CCEL's), empty for dstack's own
runtime events on RTMR[3], which are not replayed here.
"""

from __future__ import annotations

import json
from typing import Any, Final

from ..documents import unique_members
from ..errors import ParseError
from .events import COMPONENT, MAX_EVENTS, MAX_LOG_BYTES, SHA384, Event, EventLog
from .tcg import parse_tcg_log

RTMR_COUNT: Final = 4
DSTACK_KEYS: Final = frozenset({"imr", "event_type", "digest", "event", "event_payload"})
MAX_LABEL: Final = 256


def parse_ccel(data: bytes) -> EventLog:
    """Parse a CCEL log area; registers are RTMR indexes (MR index - 1)."""
    log = parse_tcg_log(data, register_kind="rtmr", allow_fill=True)
    if log.spec is None or [bank.name for bank in log.banks] != [SHA384.name]:
        raise ParseError(
            "a CCEL is a crypto-agile log with SHA-384 digests only; this log declares "
            + ", ".join(bank.name for bank in log.banks),
            component=COMPONENT,
            field="Spec ID event",
            hint="pass the CCEL (ACPI table data) of a TDX guest, or use the TPM event-log reader",
        )
    events = [log.events[0]]
    for event in log.events[1:]:
        if event.extends and not 1 <= event.register <= RTMR_COUNT:
            raise ParseError(
                f"event {event.number} extends MR index {event.register}; a CCEL event "
                f"extends MR index 1-{RTMR_COUNT} (RTMR[0]-RTMR[3])",
                component=COMPONENT,
                field=f"event {event.number}.pcrIndex",
                offset=event.offset,
            )
        register = event.register - 1 if event.extends else event.register
        events.append(
            Event(event.number, event.offset, register, event.event_type, event.digests, event.data)
        )
    return EventLog(
        "ccel",
        "rtmr",
        log.banks,
        tuple(events),
        log.spec,
        trailing_fill=log.trailing_fill,
    )


def _field(entry: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = entry.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ParseError(
            f"{where}.{name} must be a {kind.__name__}",
            component=COMPONENT,
            field=f"{where}.{name}",
        )
    return value


def _hex(text: str, where: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ParseError(f"{where} is not hex", component=COMPONENT, field=where) from None


def parse_dstack_event_log(text: str | bytes) -> EventLog:
    """Parse dstack's JSON event log; firmware events (RTMR[0]-[2]) carry their digests."""
    if len(text) > MAX_LOG_BYTES:
        raise ParseError("the event log is too large", component=COMPONENT, field="event log")
    try:
        entries = json.loads(text, object_pairs_hook=unique_members)
    except (ValueError, RecursionError) as exc:
        raise ParseError(
            f"not a JSON event log: {exc}", component=COMPONENT, field="event log"
        ) from None
    if not isinstance(entries, list) or len(entries) > MAX_EVENTS:
        raise ParseError(
            f"a dstack event log is a JSON list of at most {MAX_EVENTS} events",
            component=COMPONENT,
            field="event log",
        )
    events: list[Event] = []
    for number, entry in enumerate(entries):
        where = f"event {number}"
        if not isinstance(entry, dict) or set(entry) != DSTACK_KEYS:
            raise ParseError(
                f"{where} must have exactly the members {', '.join(sorted(DSTACK_KEYS))}",
                component=COMPONENT,
                field=where,
            )
        register = _field(entry, "imr", int, where)
        event_type = _field(entry, "event_type", int, where)
        if not 0 <= register < RTMR_COUNT or not 0 <= event_type < 1 << 32:
            raise ParseError(
                f"{where}: imr {register} or event_type {event_type} is out of range",
                component=COMPONENT,
                field=where,
            )
        digest = _hex(_field(entry, "digest", str, where), f"{where}.digest")
        label = _field(entry, "event", str, where)
        payload = _hex(_field(entry, "event_payload", str, where), f"{where}.event_payload")
        if (digest and len(digest) != SHA384.size) or len(label) > MAX_LABEL:
            raise ParseError(
                f"{where}: a digest is {SHA384.size} bytes (or empty) and a label at most "
                f"{MAX_LABEL} characters",
                component=COMPONENT,
                field=where,
            )
        digests = {SHA384.name: digest} if digest else {}
        events.append(Event(number, None, register, event_type, digests, payload, label))
    return EventLog("dstack-json", "rtmr", (SHA384,), tuple(events))
