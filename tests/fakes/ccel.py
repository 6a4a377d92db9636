"""A TD's CCEL built from real events: dstack's TDX attestation (a real TD's quote and the JSON
event log of its firmware's events, tests/vectors/eventlog/PROVENANCE.md) written in the CCEL's
binary layout, as TDVF writes it (crypto-agile, SHA-384, MR index = RTMR + 1, fill after the
last event).

No public binary CCEL could be copied into the repository; these are the same events with the
same digests. dstack's "lite" log carries no event data; where the data is fixed by the
specification and its SHA-384 *is* the real digest (the separator's four zero bytes, TDVF's
action strings), it is filled in, so the CCEL reads as a real one does — nothing else is
invented, and an event keeps empty data where its digest could not be reproduced.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path

from cairn_verifier.eventlog import EventLog, parse_dstack_event_log
from cairn_verifier.tdx.quote import Quote, parse_quote

DSTACK = Path("eventlog") / "dstack" / "tdx-lite-getquote.json"
SHA384_ALG = 0x000C
KNOWN_DATA = (
    bytes(4),  # EV_SEPARATOR
    b"Calling EFI Application from Boot Option",
    b"Exit Boot Services Invocation",
    b"Exit Boot Services Returned with Success",
)
"""Event data TDVF logs whose SHA-384 is the digest it extends (checked per event)."""


@dataclass(frozen=True)
class DstackAttestation:
    """dstack's real GetQuote answer: the quote, its JSON event log, and the file."""

    path: Path
    quote: Quote
    quote_bytes: bytes
    event_log_json: str

    @property
    def log(self) -> EventLog:
        return parse_dstack_event_log(self.event_log_json)


def dstack_attestation(testdata: Path) -> DstackAttestation:
    path = testdata / DSTACK
    document = json.loads(path.read_text())
    raw = bytes.fromhex(document["quote"])
    return DstackAttestation(path, parse_quote(raw), raw, document["event_log"])


def _data_for(digest: bytes) -> bytes:
    return next((data for data in KNOWN_DATA if hashlib.sha384(data).digest() == digest), b"")


def ccel_from(log: EventLog, *, fill: int = 4096) -> bytes:
    """The events of ``log`` that carry a SHA-384 digest, as a CCEL with ``fill`` 0xFF bytes."""
    spec = b"Spec ID Event03\x00" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, 1)
    spec += struct.pack("<HH", SHA384_ALG, 48) + b"\x00"
    raw = struct.pack("<II", 0, 3) + bytes(20) + struct.pack("<I", len(spec)) + spec
    for event in log.events:
        digest = event.digests.get("sha384")
        if digest is None:
            continue
        data = event.data or _data_for(digest)
        raw += struct.pack("<IIIH", event.register + 1, event.event_type, 1, SHA384_ALG)
        raw += digest + struct.pack("<I", len(data)) + data
    return raw + b"\xff" * fill


def dstack_ccel(testdata: Path, *, fill: int = 4096) -> bytes:
    """dstack's real firmware events as a CCEL (replays to the real quote's RTMR[0]-[2])."""
    return ccel_from(dstack_attestation(testdata).log, fill=fill)
