"""TCG PC Client event logs: a real CentOS Stream 9 log (keylime's test data) parsed, replayed,
compared and described; tpm2-tools' ``tpm2_eventlog`` is the independent oracle for the replay.
Tampering with any event that extends a register changes the replay; malformed logs are
ParseErrors that name the event and field."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn_verifier.errors import CairnError, ParseError
from cairn_verifier.eventlog import (
    EventType,
    compare,
    describe,
    parse_tcg_log,
    read_event_log,
    replay,
)


@pytest.fixture(scope="module")
def keylime_log(testdata: Path) -> bytes:
    text = (testdata / "eventlog" / "keylime" / "mb_log.b64").read_text()
    return base64.b64decode("".join(text.split()))


def _tpm2_eventlog_pcrs(raw: bytes, tmp_path: Path) -> dict[tuple[str, int], bytes]:
    if shutil.which("tpm2_eventlog") is None:
        pytest.fail("tpm2_eventlog (tpm2-tools) is needed: `./dev setup base tpm`")
    path = tmp_path / "log.bin"
    path.write_bytes(raw)
    out = subprocess.run(
        ["tpm2_eventlog", str(path)], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    pcrs = out.split("\npcrs:\n", 1)[1]
    values = {}
    bank = ""
    for line in pcrs.splitlines():
        if header := re.fullmatch(r"\s+(\w+):", line):
            bank = header[1]
        elif value := re.fullmatch(r"\s+(\d+)\s*:\s*0x([0-9a-fA-F]+)", line):
            values[(bank, int(value[1]))] = bytes.fromhex(value[2])
    assert values, out[-2000:]
    return values


def test_the_real_log_parses_and_replays_as_tpm2_eventlog_does(
    keylime_log: bytes, tmp_path: Path
) -> None:
    log = parse_tcg_log(keylime_log)
    assert log.format == "tcg2"
    assert [bank.name for bank in log.banks] == ["sha256"]
    assert len(log.events) == 102  # the header and 101 events, as tpm2_eventlog counts them
    replayed = replay(log)
    assert dict(replayed.values) == _tpm2_eventlog_pcrs(keylime_log, tmp_path)
    assert replayed.unreplayable == ()


def test_the_measured_boot_is_described(keylime_log: bytes) -> None:
    summary = describe(parse_tcg_log(keylime_log)).summary()
    assert summary["secure_boot"] is True
    assert summary["boot_applications"][0] == "\\EFI\\centos\\shimx64.efi"
    assert summary["kernels"] == ["(hd0,gpt2)/vmlinuz-5.14.0-183.el9.x86_64"]
    assert summary["initrds"] == ["(hd0,gpt2)/initramfs-5.14.0-183.el9.x86_64.img"]
    (command_line,) = summary["command_lines"]
    assert "root=/dev/mapper/cs-root ro" in command_line
    assert summary["uki_sections"] == []


def test_a_comparison_with_the_covered_values_verifies_their_events(keylime_log: bytes) -> None:
    log = parse_tcg_log(keylime_log)
    replayed = replay(log)
    covered = {key: value for key, value in replayed.values.items() if key[1] in (4, 7, 16)}
    covered[("sha256", 16)] = bytes(32)  # quoted, never extended by the firmware
    comparison = compare(replayed, covered)
    assert comparison.ok
    assert [(r.bank, r.index) for r in comparison.matched] == [("sha256", 4), ("sha256", 7)]
    assert [(r.bank, r.index) for r in comparison.undescribed] == [("sha256", 16)]
    assert ("sha256", 8) in comparison.uncovered
    items = describe(log, comparison.verified_events()).items
    shim = next(i for i in items if i.detail == "\\EFI\\centos\\shimx64.efi")
    assert shim.verified is True  # PCR 4, covered and matching
    kernel = next(i for i in items if i.kind == "kernel")
    assert kernel.verified is False  # PCR 9 is not covered: its events prove nothing


def _event_offsets(raw: bytes) -> list[int]:
    return [e.offset for e in parse_tcg_log(raw).events if e.offset is not None]


@pytest.mark.parametrize(
    "tamper",
    ["digest-byte", "drop-event", "swap-events"],
)
def test_a_tampered_event_no_longer_replays_to_the_quoted_value(
    keylime_log: bytes, tamper: str
) -> None:
    log = parse_tcg_log(keylime_log)
    covered = dict(replay(log).values)
    pcr4 = [e for e in log.events if e.register == 4 and e.extends]
    target = pcr4[-1]
    assert target.offset is not None
    raw = bytearray(keylime_log)
    size = 4 + 4 + 4 + 2 + 32 + 4 + len(target.data)
    if tamper == "digest-byte":
        raw[target.offset + 14] ^= 0x01  # first byte of its SHA-256 digest
    elif tamper == "drop-event":
        del raw[target.offset : target.offset + size]
    else:  # the last PCR 4 event before an earlier one with another digest
        first = next(e for e in reversed(pcr4[:-1]) if e.digests != target.digests)
        assert first.offset is not None
        first_size = 4 + 4 + 4 + 2 + 32 + 4 + len(first.data)
        a = bytes(raw[first.offset : first.offset + first_size])
        b = bytes(raw[target.offset : target.offset + size])
        assert first.offset + first_size <= target.offset
        middle = bytes(raw[first.offset + first_size : target.offset])
        raw[first.offset : target.offset + size] = b + middle + a
    tampered = parse_tcg_log(bytes(raw))
    comparison = compare(replay(tampered), covered)
    assert [(r.bank, r.index) for r in comparison.mismatched] == [("sha256", 4)]
    assert not comparison.ok
    in_pcr4 = {e.number for e in tampered.events if e.register == 4}
    assert in_pcr4 and not in_pcr4 & comparison.verified_events()


def test_changing_only_event_data_does_not_change_the_replay(keylime_log: bytes) -> None:
    """The digest is what is extended: data is the writer's description (see describe.py)."""
    log = parse_tcg_log(keylime_log)
    event = next(e for e in log.events if e.event_type == EventType.EV_EFI_ACTION)
    assert event.offset is not None
    raw = bytearray(keylime_log)
    data_at = event.offset + 4 + 4 + 4 + 2 + 32 + 4
    raw[data_at] ^= 0x20
    assert replay(parse_tcg_log(bytes(raw))).values == replay(log).values


def _header(banks: list[tuple[int, int]]) -> bytes:
    spec = b"Spec ID Event03\x00" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, len(banks))
    spec += b"".join(struct.pack("<HH", alg, size) for alg, size in banks) + b"\x00"
    return struct.pack("<II", 0, 3) + bytes(20) + struct.pack("<I", len(spec)) + spec


def _event2(pcr: int, digests: list[tuple[int, bytes]], data: bytes = b"x") -> bytes:
    body = struct.pack("<III", pcr, 0xD, len(digests))
    body += b"".join(struct.pack("<H", alg) + d for alg, d in digests)
    return body + struct.pack("<I", len(data)) + data


SHA256 = (0x000B, 32)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"", "event log"),
        (_header([SHA256])[:-3], "event 0.event"),
        (_header([SHA256, SHA256]), "digestSizes"),
        (_header([(0x000B, 20)]), "digestSizes[0].digestSize"),
        (_header([SHA256]) + _event2(0, []), "event 1.digests.count"),
        (_header([SHA256]) + _event2(0, [(0x0004, bytes(20))]), "event 1.digests[0].hashAlg"),
        (_header([SHA256]) + _event2(0, [(0x000B, bytes(32))])[:-1], "event 1.event"),
        (_header([SHA256]) + b"\xff" * 16, "event 1.digests.count"),
        (_header([SHA256]) + struct.pack("<III", 0, 0xD, 1) + b"\x0b\x00" + bytes(32)
         + struct.pack("<I", 0xFFFFFFF0), "event 1.event"),
    ],
)  # fmt: skip
def test_malformed_logs_name_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(ParseError) as error:
        parse_tcg_log(raw)
    assert error.value.field == field


def test_a_log_of_an_unknown_bank_is_read_but_that_bank_is_not_replayed() -> None:
    sm3 = (0x0012, 32)
    raw = _header([SHA256, sm3]) + _event2(4, [(0x000B, b"\x01" * 32), (0x0012, b"\x02" * 32)])
    log = parse_tcg_log(raw)
    replayed = replay(log)
    assert ("sha256", 4) in replayed.values
    assert ("alg_0x0012", 4) in replayed.unreplayable


def test_startup_locality_sets_the_initial_value_of_pcr0() -> None:
    locality = struct.pack("<II", 0, 3) + struct.pack("<IH", 1, 0x000B) + bytes(32)
    locality += struct.pack("<I", 17) + b"StartupLocality\x00\x03"
    raw = _header([SHA256]) + locality + _event2(0, [(0x000B, b"\x05" * 32)])
    value = replay(parse_tcg_log(raw)).values[("sha256", 0)]
    assert value == hashlib.sha256(bytes(31) + b"\x03" + b"\x05" * 32).digest()


def test_base64_and_raw_are_read_alike(keylime_log: bytes) -> None:
    raw, form = read_event_log(keylime_log)
    encoded, form64 = read_event_log(base64.encodebytes(keylime_log))
    assert raw.events == encoded.events
    assert form == "TCG PC Client event log (crypto-agile)"
    assert form64 == "base64 TCG PC Client event log (crypto-agile)"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_logs_raise_only_parse_errors(keylime_log: bytes, data: st.DataObject) -> None:
    raw = bytearray(keylime_log[:4000])
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(raw)))
    try:
        log = parse_tcg_log(bytes(raw[:cut]))
    except CairnError as error:
        assert isinstance(error, ParseError)
        return
    replay(log)
    describe(log)


def test_pcr11_matches_after_systemds_boot_phases() -> None:
    """systemd-stub's PCR 11 events are in the firmware's log; systemd-pcrphase extends the boot
    phases later, outside it. The quoted value after the phases is recognised."""
    sections = [hashlib.sha256(b".linux\0").digest(), hashlib.sha256(b"kernel").digest()]
    raw = _header([SHA256]) + b"".join(_event2(11, [(0x000B, d)]) for d in sections)
    replayed = replay(parse_tcg_log(raw))
    value = replayed.values[("sha256", 11)]
    for phase in ("enter-initrd", "leave-initrd", "sysinit"):
        value = hashlib.sha256(value + hashlib.sha256(phase.encode()).digest()).digest()
    (result,) = compare(replayed, {("sha256", 11): value}).results
    assert result.status == "matched"
    assert result.after_boot == ("enter-initrd", "leave-initrd", "sysinit")
    (other,) = compare(replayed, {("sha256", 11): bytes(32)}).results
    assert other.status == "unexplained"  # the OS may extend PCR 11: not a contradiction


def test_os_pcrs_that_do_not_replay_are_unexplained_not_mismatched(keylime_log: bytes) -> None:
    replayed = replay(parse_tcg_log(keylime_log))
    covered = dict(replayed.values)
    covered[("sha256", 9)] = bytes(32)  # as if the OS had extended PCR 9 after the log
    covered[("sha256", 7)] = bytes(32)  # PCR 7 is closed before the OS: a contradiction
    comparison = compare(replayed, covered)
    assert [(r.bank, r.index) for r in comparison.unexplained] == [("sha256", 9)]
    assert [(r.bank, r.index) for r in comparison.mismatched] == [("sha256", 7)]
    assert not comparison.ok
