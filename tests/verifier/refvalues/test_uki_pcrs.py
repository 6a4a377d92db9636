"""vTPM PCRs of a UKI boot. PCR 11 against systemd-measure itself (Debian's systemd 252), on
the sections of a real UKI built with objcopy from Debian's systemd-stub; Authenticode
digests against sbsign's (sbsigntool); PCR 4's firmware events against a real firmware log."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path

import pytest
from efi_tools import run, tool

from cairn_verifier.cli.main import main
from cairn_verifier.errors import MalformedInputError, ParseError
from cairn_verifier.eventlog import EventType, parse_tcg_log
from cairn_verifier.policy_document import load_policy
from cairn_verifier.refvalues.authenticode import authenticode_digest
from cairn_verifier.refvalues.pe import parse_pe
from cairn_verifier.refvalues.uki import (
    BOOT_PHASES,
    SYSTEMD_252_SECTIONS,
    parse_uki,
    pcr4,
    pcr11_phases,
    pcr11_sections,
    uki_pcr4,
    uki_pcr9,
)

CMDLINE = b"init=/nix/store/0c1i4g9kq7bhm8lcjj8h4pyf1r6b6nh9-nixos-system-cvm/init console=ttyS0"
SHA256_DIGEST_INFO = bytes.fromhex("060960864801650304020105000420")


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory, boot_efi: Path) -> dict[str, Path]:
    """Section files: a real PE as .linux, an os-release, a command line, an initrd."""
    work = tmp_path_factory.mktemp("uki-parts")
    files = {
        "linux": boot_efi.read_bytes(),
        "osrel": b'ID=nixos\nVERSION_ID="25.11"\nPRETTY_NAME="NixOS 25.11"\n',
        "cmdline": CMDLINE,
        "initrd": hashlib.sha512(b"initrd").digest() * 300,
    }
    paths = {}
    for name, data in files.items():
        paths[name] = work / name
        paths[name].write_bytes(data)
    return paths


@pytest.fixture(scope="module")
def uki_file(parts: dict[str, Path], stub: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A UKI as systemd 252 documents building one: objcopy adds the sections to the stub."""
    out = tmp_path_factory.mktemp("uki") / "uki.efi"
    args: list[str | Path] = [tool("objcopy", "binutils")]
    for index, name in enumerate(("osrel", "cmdline", "linux", "initrd")):
        args += ["--add-section", f".{name}={parts[name]}"]
        args += ["--change-section-vma", f".{name}=0x{0x20000 + index * 0x2000000:x}"]
    run(*args, stub, out)
    return out


@pytest.mark.parametrize("bank", ["sha1", "sha256", "sha384", "sha512"])
def test_pcr11_is_what_systemd_measure_computes(
    parts: dict[str, Path], uki_file: Path, systemd_measure: Path, bank: str
) -> None:
    argv = [systemd_measure, "calculate", "--json=short", f"--bank={bank}"]
    argv += [f"--{name}={path}" for name, path in parts.items()]
    expected = json.loads(run(*argv))[bank]
    sections = {f".{name}": path.read_bytes() for name, path in parts.items()}
    ours = pcr11_phases(sections, bank, BOOT_PHASES, SYSTEMD_252_SECTIONS)
    assert [(e["phase"], e["pcr"], e["hash"]) for e in expected] == [
        (phase, 11, value.hex()) for phase, value in ours
    ]
    # The same sections read back out of the built UKI give the same values.
    uki = parse_uki(uki_file.read_bytes())
    assert {name: uki.sections[name] for name in sections} == sections
    assert pcr11_phases(uki.sections, bank, BOOT_PHASES, SYSTEMD_252_SECTIONS) == ours


def test_the_stubs_own_sbat_section_is_measured_by_newer_stubs(uki_file: Path) -> None:
    uki = parse_uki(uki_file.read_bytes())
    assert ".sbat" in uki.sections  # Debian's stub carries one; systemd >= 257 measures it
    assert pcr11_sections(uki.sections) != pcr11_sections(
        uki.sections, measured=SYSTEMD_252_SECTIONS
    )


@pytest.mark.parametrize("name", ["linuxx64.efi.stub", "systemd-bootx64.efi"])
def test_authenticode_digests_are_sbsigns(name: str, stub: Path, tmp_path: Path) -> None:
    """sbsign embeds the Authenticode SHA-256 of the image it signs; a signed image's digest
    leaves its own signature out. sbsign pads the image to 8 bytes first."""
    source = stub.parent / name
    key, cert, signed = tmp_path / "key.pem", tmp_path / "cert.pem", tmp_path / "signed.efi"
    run(tool("openssl", "openssl"), "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes",
        "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=cairn test")  # fmt: skip
    run(tool("sbsign", "sbsigntool"), "--key", key, "--cert", cert, "--output", signed, source)
    image = parse_pe(signed.read_bytes())
    address, size = image.certificate_table
    signature = image.data[address : address + size]
    at = signature.index(SHA256_DIGEST_INFO) + len(SHA256_DIGEST_INFO)
    embedded = signature[at : at + 32]
    assert authenticode_digest(image) == embedded
    assert authenticode_digest(source.read_bytes(), pad_to=8) == embedded


def test_pcr4_starts_with_the_events_real_firmware_measures(testdata: Path) -> None:
    text = (testdata / "eventlog/keylime/mb_log.b64").read_text()
    log = parse_tcg_log(base64.b64decode("".join(text.split())))
    firmware = [e for e in log.events if e.register == 4 and e.extends][:2]
    assert [e.event_type for e in firmware] == [EventType.EV_EFI_ACTION, EventType.EV_SEPARATOR]
    value, events = pcr4([], "sha256")
    assert events == [e.digests["sha256"] for e in firmware]
    assert (
        value == hashlib.sha256(hashlib.sha256(bytes(32) + events[0]).digest() + events[1]).digest()
    )


def test_pcr4_adds_the_uki_and_its_kernel(uki_file: Path, boot_efi: Path) -> None:
    uki = parse_uki(uki_file.read_bytes())
    with_kernel = uki_pcr4(uki)
    without = uki_pcr4(uki, kernel_via_loadimage=False)
    assert without == pcr4([authenticode_digest(uki_file.read_bytes())])[0]
    assert (
        with_kernel
        == pcr4(
            [authenticode_digest(uki_file.read_bytes()), authenticode_digest(boot_efi.read_bytes())]
        )[0]
    )


def test_pcr9_is_the_load_options_then_the_initrd(uki_file: Path, parts: dict[str, Path]) -> None:
    uki = parse_uki(uki_file.read_bytes())
    options = hashlib.sha256((CMDLINE.decode() + "\0").encode("utf-16-le")).digest()
    initrd = hashlib.sha256(parts["initrd"].read_bytes()).digest()
    first = hashlib.sha256(bytes(32) + options).digest()
    assert uki_pcr9(uki) == hashlib.sha256(first + initrd).digest()


def test_the_cli_writes_an_evidence_policy(
    uki_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pcrs.toml"
    assert main(["reference-values", "--uki", str(uki_file), "-o", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    policy = load_policy(out)
    pins = {index: value.hex() for index, value in policy.evidence.pcrs["sha256"].items()}
    assert pins == {int(k): v for k, v in summary["pcrs"].items()}
    uki = parse_uki(uki_file.read_bytes())
    assert pins[11] == pcr11_phases(uki.sections)[-1][1].hex()
    pcr9 = uki_pcr9(uki)
    assert pcr9 is not None and pins[9] == pcr9.hex() and pins[4] == uki_pcr4(uki).hex()
    written = out.read_text()
    assert "PCR 11 is what systemd-measure computes" in written
    # An existing file is kept unless --force (a usage error, as for every output file).
    assert main(["reference-values", "--uki", str(uki_file), "-o", str(out)]) == 64
    assert out.read_text() == written


def test_a_pe_without_linux_is_not_a_uki(stub: Path) -> None:
    with pytest.raises(MalformedInputError, match=r"no \.linux section"):
        parse_uki(stub.read_bytes())
    with pytest.raises(ParseError):
        parse_uki(b"MZ" + bytes(100))


def _set_virtual_size(data: bytearray, section: str, size: int) -> None:
    """Write ``size`` into the VirtualSize of the section header named ``section``."""
    header = bytes(data).index(section.encode().ljust(8, b"\x00"))
    struct.pack_into("<I", data, header + 8, size)


def test_a_section_claiming_gigabytes_of_memory_is_refused(uki_file: Path) -> None:
    """A UKI section is read as loaded (zero-filled to VirtualSize): an absurd size is refused,
    not allocated."""
    data = bytearray(uki_file.read_bytes())
    _set_virtual_size(data, ".initrd", 0xFFFFFFF0)
    with pytest.raises(ParseError, match="zero fill") as raised:
        parse_uki(bytes(data))
    assert raised.value.field == "section .initrd VirtualSize"


def test_a_large_bss_does_not_stop_authenticode(boot_efi: Path) -> None:
    """A kernel's .text may claim its BSS and decompression buffer (tens of MiB past its raw
    data): the PE is still read and Authenticode-hashed, headers as they are."""
    data = bytearray(boot_efi.read_bytes())
    _set_virtual_size(data, ".text", 64 * 1024 * 1024)
    image = parse_pe(bytes(data))
    text = image.section(".text")
    assert text is not None and text.virtual_size == 64 * 1024 * 1024
    assert authenticode_digest(image) != authenticode_digest(boot_efi.read_bytes())
