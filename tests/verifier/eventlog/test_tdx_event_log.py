"""TDX event logs: dstack's real TDX attestation (a TD quote v4 and its JSON event log) replays
to the quote's RTMR[0]-[2]; the same events written as a binary CCEL read identically; a
tampered event does not replay."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from cairn_verifier.errors import ParseError
from cairn_verifier.eventlog import (
    EventLog,
    compare,
    describe,
    parse_ccel,
    parse_dstack_event_log,
    read_event_log,
    replay,
)
from cairn_verifier.tdx.quote import parse_quote


@pytest.fixture(scope="module")
def attestation(testdata: Path) -> dict[str, str]:
    path = testdata / "eventlog" / "dstack" / "tdx-lite-getquote.json"
    document: dict[str, str] = json.loads(path.read_text())
    return document


def _rtmrs(attestation: dict[str, str]) -> dict[tuple[str, int], bytes]:
    quote = parse_quote(bytes.fromhex(attestation["quote"]))
    return {("sha384", index): value for index, value in enumerate(quote.body.rtmrs)}


def test_the_real_log_replays_to_the_quotes_rtmrs(attestation: dict[str, str]) -> None:
    log = parse_dstack_event_log(attestation["event_log"])
    assert log.register_kind == "rtmr"
    replayed = replay(log)
    assert replayed.unreplayable == (("sha384", 3),)  # dstack's runtime events carry no digest
    comparison = compare(replayed, _rtmrs(attestation))
    assert comparison.ok
    assert [r.index for r in comparison.matched] == [0, 1, 2]
    assert [r.index for r in comparison.undescribed] == [3]
    description = describe(log, comparison.verified_events())
    kernel = [i for i in description.items if i.kind == "kernel"]
    assert len(kernel) == 1 and kernel[0].register == "RTMR[1]" and kernel[0].verified
    configuration = [i for i in description.items if i.kind == "firmware configuration"]
    assert [i.detail for i in configuration][-3:] == [
        "acpi-loader",
        "acpi-rsdp",
        "acpi-tables",
    ]


def test_a_tampered_event_does_not_replay(attestation: dict[str, str]) -> None:
    events = json.loads(attestation["event_log"])
    initrd = next(e for e in events if e["imr"] == 2 and e["event_type"] == 6)
    initrd["digest"] = "00" + initrd["digest"][2:]
    comparison = compare(replay(parse_dstack_event_log(json.dumps(events))), _rtmrs(attestation))
    assert [r.index for r in comparison.mismatched] == [2]
    assert not comparison.ok


def _as_ccel(log: EventLog, fill: int) -> bytes:
    """The firmware events of ``log`` in the CCEL's binary form (MR index = RTMR + 1)."""
    spec = b"Spec ID Event03\x00" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, 1)
    spec += struct.pack("<HH", 0x000C, 48) + b"\x00"
    raw = struct.pack("<II", 0, 3) + bytes(20) + struct.pack("<I", len(spec)) + spec
    for event in log.events:
        if "sha384" not in event.digests:
            continue
        raw += struct.pack("<IIIH", event.register + 1, event.event_type, 1, 0x000C)
        raw += event.digests["sha384"] + struct.pack("<I", len(event.data)) + event.data
    return raw + b"\xff" * fill


def test_the_ccel_form_of_the_same_events_replays_alike(attestation: dict[str, str]) -> None:
    dstack = parse_dstack_event_log(attestation["event_log"])
    raw = _as_ccel(dstack, fill=4096)
    ccel = parse_ccel(raw)
    assert ccel.format == "ccel" and ccel.trailing_fill == 4096
    assert compare(replay(ccel), _rtmrs(attestation)).ok
    detected, form = read_event_log(raw)
    assert detected.format == "ccel" and form.startswith("CCEL")


def test_a_ccel_event_outside_the_rtmrs_is_malformed(attestation: dict[str, str]) -> None:
    raw = bytearray(_as_ccel(parse_dstack_event_log(attestation["event_log"]), fill=0))
    first = parse_ccel(bytes(raw)).events[1]
    assert first.offset is not None
    raw[first.offset : first.offset + 4] = struct.pack("<I", 0)  # MR index 0 = MRTD
    with pytest.raises(ParseError, match="MR index 0"):
        parse_ccel(bytes(raw))


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "[{}]",
        '[{"imr": 4, "event_type": 1, "digest": "", "event": "", "event_payload": ""}]',
        '[{"imr": 0, "event_type": 1, "digest": "ab", "event": "", "event_payload": ""}]',
        '[{"imr": 0, "event_type": 1, "digest": "", "event": "", "event_payload": "zz"}]',
        '[{"imr": 0, "imr": 0, "event_type": 1, "digest": "", "event": "", "event_payload": ""}]',
        '[{"imr": true, "event_type": 1, "digest": "", "event": "", "event_payload": ""}]',
    ],
)
def test_malformed_dstack_logs_are_parse_errors(text: str) -> None:
    with pytest.raises(ParseError):
        parse_dstack_event_log(text)
