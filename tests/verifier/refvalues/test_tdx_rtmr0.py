"""RTMR[0] of a direct-boot TD, against a real TD's event log and quote (dstack's
``tests/vectors/eventlog/dstack/tdx-lite-getquote.json``: 2 GiB, QEMU 8.2.2, OVMF before
edk2-stable202505). Every event Cairn derives equals the log's digest: the TD HOB from the
memory size and the standard OVMF TDVF layout (Debian 12's OVMF.fd has it), the CFV (Ubuntu
25.04's OVMF.fd carries the same variable store as dstack's image), the Secure Boot variables,
the separator, BootOrder and Boot0000 (UiApp); with the log's three ACPI digests the chain is the
quote's RTMR[0]. The ACPI blobs themselves are not in the log: they are an input."""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
import struct
from pathlib import Path

import pytest
from fakes.bzimage import bzimage

from cairn_verifier.cli.main import main
from cairn_verifier.errors import MalformedInputError
from cairn_verifier.eventlog import EventLog, read_event_log
from cairn_verifier.policy_document import load_policy
from cairn_verifier.refvalues.qemu_acpi import parse_acpi_digests, read_acpi_digests
from cairn_verifier.refvalues.tdvf import parse_tdvf
from cairn_verifier.refvalues.tdx_boot import extend_chain
from cairn_verifier.refvalues.tdx_rtmr0 import (
    Rtmr0MismatchError,
    acpi_digests_from_log,
    cfv_image,
    check_against_log,
    ram_ranges,
    rtmr0_events,
    td_hob,
)
from cairn_verifier.tdx.quote import parse_quote

MEMORY = 2 << 30  # the dstack TD's vm_config memory_size
EVENT_NAMES = [
    "td-hob",
    "cfv",
    "SecureBoot",
    "PK",
    "KEK",
    "db",
    "dbx",
    "separator",
    "acpi table-loader",
    "acpi rsdp",
    "acpi tables",
    "BootOrder",
    "Boot0000",
]
EVENT_TYPES = [0x8000000B, 0x8000000A] + [0x80000001] * 5 + [4, 10, 10, 10]
EVENT_TYPES += [0x80000002] * 2


@pytest.fixture(scope="module")
def dstack_rtmr0(testdata: Path) -> tuple[list[dict[str, object]], bytes]:
    """The real log's RTMR[0] events (digests only: dstack strips their data) and the quote's
    RTMR[0]."""
    document = json.loads((testdata / "eventlog/dstack/tdx-lite-getquote.json").read_text())
    config = json.loads(document["vm_config"])
    assert config["memory_size"] == MEMORY and config["ovmf_variant"] == "pre202505"
    log = document["event_log"]
    events = [e for e in (json.loads(log) if isinstance(log, str) else log) if e["imr"] == 0]
    return events, parse_quote(bytes.fromhex(document["quote"])).body.rtmrs[0]


@pytest.fixture(scope="module")
def ubuntu_firmware(testdata: Path) -> bytes:
    return lzma.decompress((testdata / "tdx/ubuntu-ovmf/OVMF.fd.xz").read_bytes())


def _log_digests(events: list[dict[str, object]]) -> list[bytes]:
    return [bytes.fromhex(str(e["digest"])) for e in events]


def test_the_logs_rtmr0_events_are_the_layout_computed(
    dstack_rtmr0: tuple[list[dict[str, object]], bytes],
) -> None:
    events, rtmr0 = dstack_rtmr0
    assert [e["event_type"] for e in events] == EVENT_TYPES
    assert extend_chain(_log_digests(events)) == rtmr0


def test_every_derivable_event_is_the_real_logs(
    dstack_rtmr0: tuple[list[dict[str, object]], bytes], ovmf: Path, ubuntu_firmware: bytes
) -> None:
    """TD HOB from 2 GiB and Debian's (standard) TDVF layout; CFV from Ubuntu's image; the
    variables, separator and boot variables from their definitions."""
    events, _ = dstack_rtmr0
    log = _log_digests(events)
    debian = parse_tdvf(ovmf.read_bytes())
    cfv = cfv_image(ubuntu_firmware, parse_tdvf(ubuntu_firmware))
    computed = rtmr0_events(td_hob(debian, MEMORY), cfv, log[8:11])
    assert [e.name for e in computed] == EVENT_NAMES
    for event, digest in zip(computed, log, strict=True):
        assert event.digest == digest, event.name


def test_rtmr0_is_the_quotes(
    dstack_rtmr0: tuple[list[dict[str, object]], bytes], ovmf: Path, ubuntu_firmware: bytes
) -> None:
    events, rtmr0 = dstack_rtmr0
    acpi = _log_digests(events)[8:11]
    cfv = cfv_image(ubuntu_firmware, parse_tdvf(ubuntu_firmware))
    debian = parse_tdvf(ovmf.read_bytes())
    chain = extend_chain(e.digest for e in rtmr0_events(td_hob(debian, MEMORY), cfv, acpi))
    assert chain == rtmr0
    # Another memory size, Ubuntu's TempMem layout, another ACPI blob: another RTMR[0].
    ubuntu = parse_tdvf(ubuntu_firmware)
    for hob, tables in [
        (td_hob(debian, 4 << 30), acpi),
        (td_hob(ubuntu, MEMORY), acpi),
        (td_hob(debian, MEMORY), [acpi[0], acpi[1], hashlib.sha384(b"other").digest()]),
    ]:
        assert extend_chain(e.digest for e in rtmr0_events(hob, cfv, tables)) != rtmr0


def test_the_ram_map_splits_at_2_gib_from_2_75_gib(ovmf: Path) -> None:
    """q35 keeps 2 GiB below 4 GiB from 2.75 GiB of RAM on: the rest starts at 4 GiB; the
    TD_HOB and TempMem sections are accepted, everything else is unaccepted."""
    sections = parse_tdvf(ovmf.read_bytes())
    ranges = ram_ranges(sections, 8 << 30)
    assert (ranges[-1].address, ranges[-1].length, ranges[-1].accepted) == (4 << 30, 6 << 30, False)
    assert sum(r.length for r in ranges) == 8 << 30
    accepted = [(r.address, r.length) for r in ranges if r.accepted]
    assert accepted == sorted(
        (s.address, s.memory_size) for s in sections if s.type_name in ("TD_HOB", "TempMem")
    )
    low = ram_ranges(sections, 0xA0000000)
    assert low[-1].address + low[-1].length == 0xA0000000


def test_a_memory_size_below_the_firmwares_sections_or_unaligned_is_refused(ovmf: Path) -> None:
    sections = parse_tdvf(ovmf.read_bytes())
    with pytest.raises(MalformedInputError, match="outside the TD"):
        td_hob(sections, 4 << 20)
    with pytest.raises(MalformedInputError, match="not a positive multiple of 4 KiB"):
        td_hob(sections, MEMORY + 1)


def _table(signature: bytes, body: bytes) -> bytes:
    return signature + struct.pack("<I", 8 + len(body)) + body


@pytest.fixture
def acpi(testdata: Path, tmp_path: Path) -> Path:
    """A copy of the fw_cfg files real QEMU (Debian 12's 7.2, q35, 2 GiB, 2 vCPUs) built
    (``tests/vectors/tdx/qemu-acpi``): not a TD's, so no RTMR[0] is published for them."""
    folder = tmp_path / "acpi"
    shutil.copytree(testdata / "tdx/qemu-acpi", folder, ignore=shutil.ignore_patterns("*.md"))
    return folder


def test_real_qemu_acpi_files_are_read(acpi: Path) -> None:
    digests = read_acpi_digests(acpi)
    assert digests == tuple(
        hashlib.sha384((acpi / name).read_bytes()).digest()
        for name in ("table-loader", "rsdp", "tables")
    )


def test_a_loader_allocating_in_another_order_is_refused(acpi: Path) -> None:
    """TDVF measures the files in the order the loader allocates them: another order (or
    another file) would make the computed RTMR[0] wrong, so it is refused."""
    loader = (acpi / "table-loader").read_bytes()
    (acpi / "table-loader").write_bytes(loader[128:256] + loader[:128] + loader[256:])
    with pytest.raises(MalformedInputError, match="allocates 'etc/acpi/tables', 'etc/acpi/rsdp'"):
        read_acpi_digests(acpi)


def test_the_cli_computes_rtmr0_from_acpi_files_or_digests(
    ovmf: Path, boot_efi: Path, acpi: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(bzimage(boot_efi.read_bytes()))
    digests = [
        hashlib.sha384((acpi / n).read_bytes()).digest() for n in ("table-loader", "rsdp", "tables")
    ]
    base = ["reference-values", "--tdx", "--firmware", str(ovmf), "--kernel", str(kernel)]
    base += ["--memory", "2G", "--json"]
    firmware = ovmf.read_bytes()
    sections = parse_tdvf(firmware)
    expected = extend_chain(
        e.digest
        for e in rtmr0_events(td_hob(sections, MEMORY), cfv_image(firmware, sections), digests)
    )
    for index, inputs in enumerate(
        (["--acpi-tables", str(acpi)], ["--acpi-digests", ",".join(d.hex() for d in digests)])
    ):
        out = tmp_path / f"tdx{index}.toml"
        assert main([*base, *inputs, "-o", str(out)]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert load_policy(out).tdx.rtmr0 == expected
        assert summary["rtmr0_source"] == "computed"
        assert [e["event"] for e in summary["rtmr0_events"]] == EVENT_NAMES
        assert "rtmr0 is computed" in out.read_text()
        assert f"acpi tables sha384 {digests[2].hex()}" in out.read_text()


def test_rtmr0_given_and_computed_together_is_refused(
    ovmf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["reference-values", "--tdx", "--firmware", str(ovmf), "--kernel", str(ovmf)]
    argv += ["--memory", "2G", "--rtmr0", "ab" * 48, "--acpi-digests", ",".join(["cd" * 48] * 3)]
    assert main([*argv, "-o", str(tmp_path / "x.toml")]) == 64
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("table-loader", bytes(100), "whole number of 128-byte commands"),
        ("table-loader", struct.pack("<I", 9).ljust(128, b"\0"), "unknown loader command 0x9"),
        ("table-loader", bytes(256), "allocates none"),
        ("rsdp", b"RSD PTX " + bytes(12), "signature"),
        ("rsdp", b"RSD PTR " + bytes(8), "shorter than an RSDP"),
        ("rsdp", b"RSD PTR " + bytes(7) + b"\x02" + bytes(4), "revision 2"),
        ("tables", bytes(64), "no ACPI table"),
        ("tables", _table(b"DSDT", bytes(28)) + b"junk", "not padding"),
        ("tables", b"DSDT" + struct.pack("<I", 1 << 20) + bytes(28), "has length"),
        ("tables", b"\x01SDT" + struct.pack("<I", 36) + bytes(28), "no ACPI table signature"),
    ],
)
def test_malformed_acpi_files_are_refused(
    acpi: Path, name: str, content: bytes, message: str
) -> None:
    (acpi / name).write_bytes(content)
    with pytest.raises(MalformedInputError, match=message) as info:
        read_acpi_digests(acpi)
    assert info.value.exit_code == 10 and "qemu_fw_cfg" in (info.value.hint or "")


def test_oversized_or_missing_acpi_files_are_refused(acpi: Path) -> None:
    (acpi / "rsdp").write_bytes(b"RSD PTR " + bytes(40))
    with pytest.raises(MalformedInputError, match="more than the limit"):
        read_acpi_digests(acpi)
    (acpi / "rsdp").unlink()
    with pytest.raises(MalformedInputError, match="file not found"):
        read_acpi_digests(acpi)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ab" * 48,
        ",".join(["ab" * 48] * 4),
        ",".join(["ab" * 48, "ab" * 47, "ab" * 48]),
        ",".join(["zz" * 48] * 3),
    ],
)
def test_malformed_acpi_digests_are_refused(text: str) -> None:
    with pytest.raises(MalformedInputError, match="three comma-separated SHA-384"):
        parse_acpi_digests(text)


def test_the_cli_refuses_malformed_acpi_digests(
    ovmf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["reference-values", "--tdx", "--firmware", str(ovmf), "--kernel", str(ovmf)]
    argv += ["--memory", "2G", "--acpi-digests", "abc", "-o", str(tmp_path / "x.toml"), "--json"]
    assert main(argv) == 10
    assert "three comma-separated" in json.loads(capsys.readouterr().out)["error"]["message"]


def _dstack_log(testdata: Path) -> EventLog:
    data = (testdata / "eventlog/dstack/tdx-lite-getquote.json").read_bytes()
    return read_event_log(data)[0]


def test_the_real_log_gives_the_acpi_digests_and_agrees_with_the_computed_events(
    testdata: Path,
    dstack_rtmr0: tuple[list[dict[str, object]], bytes],
    ovmf: Path,
    ubuntu_firmware: bytes,
) -> None:
    log = _dstack_log(testdata)
    events, _ = dstack_rtmr0
    acpi = acpi_digests_from_log(log)
    assert list(acpi) == _log_digests(events)[8:11]
    cfv = cfv_image(ubuntu_firmware, parse_tdvf(ubuntu_firmware))
    computed = rtmr0_events(td_hob(parse_tdvf(ovmf.read_bytes()), MEMORY), cfv, acpi)
    check_against_log(computed, log)  # every event equal: no error
    with pytest.raises(Rtmr0MismatchError, match="has 13 events, the layout computed has 16"):
        check_against_log([*computed, *computed[:3]], log)


@pytest.mark.parametrize(("image", "differs"), [("debian", "cfv"), ("ubuntu", "td-hob")])
def test_the_cli_refuses_inputs_the_known_good_log_contradicts(
    testdata: Path,
    ovmf: Path,
    ubuntu_firmware: bytes,
    boot_efi: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    image: str,
    differs: str,
) -> None:
    """With dstack's log: Debian's image has the TD HOB layout but another variable store,
    Ubuntu's the variable store but another TempMem layout — each contradicts exactly one
    event, named, and nothing is written (exit 1)."""
    firmware = tmp_path / "OVMF.fd"
    firmware.write_bytes(ovmf.read_bytes() if image == "debian" else ubuntu_firmware)
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(bzimage(boot_efi.read_bytes()))
    out = tmp_path / "tdx.toml"
    argv = ["reference-values", "--tdx", "--firmware", str(firmware), "--kernel", str(kernel)]
    argv += ["--memory", "2G", "--json", "-o", str(out)]
    argv += ["--acpi-event-log", str(testdata / "eventlog/dstack/tdx-lite-getquote.json")]
    assert main(argv) == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["message"].endswith(f"differ from the ones computed for these inputs: {differs}")
    assert not out.exists()


def test_a_tpm_log_is_not_a_known_good_td_log(
    testdata: Path, ovmf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["reference-values", "--tdx", "--firmware", str(ovmf), "--kernel", str(ovmf)]
    argv += ["--memory", "2G", "--json", "-o", str(tmp_path / "x.toml")]
    argv += ["--acpi-event-log", str(testdata / "eventlog/keylime/mb_log.b64")]
    assert main(argv) == 10
    assert "not a TDX log" in json.loads(capsys.readouterr().out)["error"]["message"]
