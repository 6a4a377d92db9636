"""TDX reference values. RTMR[1] and RTMR[2] from the inputs dstack-mr published for a real TD
(its attestation's ``vm_config``: kernel Authenticode, command-line and initrd digests) equal
that TD quote's RTMRs; MRTD is computed from the TDVF metadata of Debian's real OVMF.fd (a
TDX-capable build) and, for Ubuntu 25.04's OVMF.fd, equals the MRTD an independent
implementation (virtee/tdx-measure) published for a live TD; QEMU's kernel patch follows the boot
protocol; the CLI writes a [tdx] policy the verifier loads."""

from __future__ import annotations

import base64
import hashlib
import json
import lzma
import struct
from pathlib import Path

import pytest
from fakes.bzimage import bzimage as _bzimage

from cairn_verifier.cli.main import main
from cairn_verifier.errors import MalformedInputError, ParseError
from cairn_verifier.policy_document import load_policy
from cairn_verifier.refvalues.authenticode import authenticode_digest
from cairn_verifier.refvalues.tdvf import MR_EXTEND, PAGE_AUG, compute_mrtd, parse_tdvf
from cairn_verifier.refvalues.tdx_boot import (
    extend_chain,
    kernel_authenticode,
    load_options,
    patch_kernel,
    rtmr1_events,
    rtmr2_events,
)
from cairn_verifier.tdx.quote import parse_quote


@pytest.fixture(scope="module")
def dstack(testdata: Path) -> tuple[dict[str, bytes], tuple[bytes, ...]]:
    """dstack-mr's measurement inputs (CBOR text keys, 48-byte values) and the quote's RTMRs."""
    document = json.loads((testdata / "eventlog/dstack/tdx-lite-getquote.json").read_text())
    cbor = base64.b64decode(json.loads(document["vm_config"])["tdx_measurement"]["measurement"])
    inputs = {}
    for key in ("kernel_authenticode", "cmdline_sha384", "initrd_sha384"):
        # a CBOR text string (0x60 + length) then a 48-byte byte string (0x58 0x30)
        marker = bytes([0x60 + len(key)]) + key.encode() + b"\x58\x30"
        at = cbor.index(marker) + len(marker)
        inputs[key] = cbor[at : at + 48]
    return inputs, parse_quote(bytes.fromhex(document["quote"])).body.rtmrs


def test_rtmr1_and_rtmr2_from_dstacks_inputs_are_the_quotes(
    dstack: tuple[dict[str, bytes], tuple[bytes, ...]],
) -> None:
    inputs, rtmrs = dstack
    assert extend_chain(rtmr1_events(inputs["kernel_authenticode"])) == rtmrs[1]
    assert extend_chain(rtmr2_events(inputs["cmdline_sha384"], inputs["initrd_sha384"])) == rtmrs[2]


@pytest.fixture(scope="module")
def ubuntu_ovmf(testdata: Path) -> tuple[bytes, bytes]:
    """Ubuntu 25.04's OVMF.fd and the MRTD virtee/tdx-measure published for it."""
    folder = testdata / "tdx/ubuntu-ovmf"
    firmware = lzma.decompress((folder / "OVMF.fd.xz").read_bytes())
    assert hashlib.sha256(firmware).hexdigest() == (
        "9e807cb2cd4313406a3aa4becc0836671a5c64ca7bdc08a45e15260184b446bf"
    )
    expected = json.loads((folder / "tdx-measure-expected.json").read_text())
    return firmware, bytes.fromhex(expected["mrtd"])


def test_mrtd_of_ubuntus_ovmf_is_the_published_one(ubuntu_ovmf: tuple[bytes, bytes]) -> None:
    """The host of that TD measured each page right after adding it (single-pass); the other
    order, and the image with one byte of its measured volume changed, give other values."""
    firmware, published = ubuntu_ovmf
    assert compute_mrtd(firmware, "single-pass") == published
    assert compute_mrtd(firmware, "two-pass") != published
    bfv = next(s for s in parse_tdvf(firmware) if s.type_name == "BFV")
    changed = bytearray(firmware)
    changed[bfv.data_offset + bfv.raw_size // 2] ^= 1
    assert compute_mrtd(bytes(changed), "single-pass") != published


def test_the_cli_lists_the_published_mrtd(
    ubuntu_ovmf: tuple[bytes, bytes], boot_efi: Path, tmp_path: Path
) -> None:
    firmware, published = ubuntu_ovmf
    (tmp_path / "OVMF.fd").write_bytes(firmware)
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(_bzimage(boot_efi.read_bytes()))
    out = tmp_path / "tdx.toml"
    argv = ["reference-values", "--tdx", "--firmware", str(tmp_path / "OVMF.fd")]
    argv += ["--kernel", str(kernel), "--memory", "16G", "-o", str(out)]
    assert main(argv) == 0
    assert published in load_policy(out).tdx.mr_td


def test_debians_ovmf_has_tdvf_metadata(ovmf: Path) -> None:
    sections = parse_tdvf(ovmf.read_bytes())
    kinds = [s.type_name for s in sections]
    assert kinds[:2] == ["BFV", "CFV"] and "TD_HOB" in kinds
    assert [bool(s.attributes & MR_EXTEND) for s in sections[:2]] == [True, False]


def test_mrtd_covers_the_measured_firmware_volume_only(ovmf: Path) -> None:
    firmware = ovmf.read_bytes()
    bfv, cfv = parse_tdvf(firmware)[:2]
    mrtd = compute_mrtd(firmware)
    assert len(mrtd) == 48 and mrtd != compute_mrtd(firmware, "single-pass")
    changed = bytearray(firmware)
    changed[bfv.data_offset + 0x1234] ^= 1  # the code volume is MR.EXTENDed
    assert compute_mrtd(bytes(changed)) != mrtd
    changed = bytearray(firmware)
    changed[cfv.data_offset + 0x1234] ^= 1  # the variable store is only added
    assert compute_mrtd(bytes(changed)) == mrtd


def _two_pass_records(firmware: bytes) -> bytes:
    """MRTD recomputed record by record: MEM.PAGE.ADD of each page of a section the VMM adds
    (not PAGE.AUG), then MR.EXTEND of each 256-byte chunk of a measured section."""
    two_pass = hashlib.sha384()
    for section in parse_tdvf(firmware):
        if not section.attributes & PAGE_AUG:
            for page in range(section.memory_size // 0x1000):
                gpa = section.address + page * 0x1000
                two_pass.update(
                    b"MEM.PAGE.ADD".ljust(16, b"\0") + gpa.to_bytes(8, "little") + bytes(104)
                )
        if section.attributes & MR_EXTEND:
            for offset in range(0, section.memory_size, 0x100):
                gpa = section.address + offset
                two_pass.update(
                    b"MR.EXTEND".ljust(16, b"\0") + gpa.to_bytes(8, "little") + bytes(104)
                )
                start = section.data_offset + offset
                two_pass.update(firmware[start : start + 0x100])
    return two_pass.digest()


def test_mrtd_records_are_the_tdx_modules(ovmf: Path) -> None:
    """MRTD = SHA-384 over 128-byte MEM.PAGE.ADD / MR.EXTEND records (TDX module ABI),
    recomputed here from the real firmware's metadata."""
    firmware = ovmf.read_bytes()
    assert compute_mrtd(firmware, "two-pass") == _two_pass_records(firmware)


def test_an_image_without_tdx_metadata_is_refused(stub: Path) -> None:
    with pytest.raises(ParseError, match="TDVF metadata"):
        parse_tdvf(stub.read_bytes())


def test_qemus_kernel_patch(boot_efi: Path) -> None:
    kernel = _bzimage(boot_efi.read_bytes())
    patched = patch_kernel(kernel, initrd_size=0x100000, memory=4 << 30, acpi_data_size=0x28000)
    assert patched[0x210] == 0xB0 and patched[0x211] & 0x80
    assert struct.unpack_from("<III", patched, 0x224)[0] == 0x20000 - 0x10000 - 0x200
    assert struct.unpack_from("<I", patched, 0x228)[0] == 0x20000
    address, size = struct.unpack_from("<II", patched, 0x218)
    assert size == 0x100000
    assert address == (0x80000000 - 0x28000 - 1 - 0x100000) & ~0xFFF
    # q35 keeps 2 GiB below 4 GiB from 2.75 GiB of RAM on: 2 GiB and 8 GiB place it alike.
    at = {
        memory: struct.unpack_from("<I", patch_kernel(kernel, 0x100000, memory, 0x28000), 0x218)
        for memory in (2 << 30, 0xA0000000, 8 << 30)
    }
    assert at[2 << 30] == at[8 << 30] != at[0xA0000000]
    # Outside the patched header the image is unchanged, so its digest moves with the header.
    assert patched[0x300:] == kernel[0x300:]
    assert kernel_authenticode(kernel, 0x100000, 4 << 30, 0x28000) == authenticode_digest(
        patched, "sha384", pad_to=8
    )


def test_a_non_linux_image_is_refused(boot_efi: Path) -> None:
    with pytest.raises(MalformedInputError, match="HdrS"):
        patch_kernel(boot_efi.read_bytes(), 0, 4 << 30, 0x28000)


def test_load_options_put_initrd_first() -> None:
    assert load_options("console=ttyS0", True) == "initrd=initrd console=ttyS0\0".encode(
        "utf-16-le"
    )
    assert load_options("console=ttyS0", False) == "console=ttyS0\0".encode("utf-16-le")


def test_the_cli_writes_a_tdx_policy(
    ovmf: Path, boot_efi: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(_bzimage(boot_efi.read_bytes()))
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"\x07" * 10_000)
    out = tmp_path / "tdx.toml"
    rtmr0 = "ab" * 48
    argv = ["reference-values", "--tdx", "--firmware", str(ovmf), "--kernel", str(kernel)]
    argv += ["--initrd", str(initrd), "--append", "console=hvc0 init=/nix/store/x-sys/init"]
    argv += ["--memory", "4G", "--rtmr0", rtmr0, "-o", str(out), "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    policy = load_policy(out).tdx
    firmware = ovmf.read_bytes()
    assert [m.hex() for m in policy.mr_td] == [
        compute_mrtd(firmware, "two-pass").hex(),
        compute_mrtd(firmware, "single-pass").hex(),
    ]
    assert policy.rtmr0 is not None and policy.rtmr0.hex() == rtmr0
    kernel_digest = kernel_authenticode(kernel.read_bytes(), 10_000, 4 << 30, 0x28000)
    assert policy.rtmr1 == extend_chain(rtmr1_events(kernel_digest))
    options = load_options("console=hvc0 init=/nix/store/x-sys/init", True)
    assert policy.rtmr2 == extend_chain(
        rtmr2_events(hashlib.sha384(options).digest(), hashlib.sha384(initrd.read_bytes()).digest())
    )
    assert policy.rtmr3 is None
    assert summary["kernel_authenticode_sha384"] == kernel_digest.hex()
    text = out.read_text()
    assert '# command line "console=hvc0 init=/nix/store/x-sys/init"' in text


def test_the_cli_needs_the_tdx_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reference-values", "--tdx", "-o", "-", "--json"]) == 64
    error = json.loads(capsys.readouterr().out)["error"]
    assert "--tdx needs --firmware, --kernel, --memory" in error["message"]


def test_metadata_that_would_add_terabytes_is_refused(ovmf: Path) -> None:
    """A section's memory size drives the page loop: an absurd one is refused, not iterated."""
    firmware = bytearray(ovmf.read_bytes())
    sections = parse_tdvf(bytes(firmware))
    temp = next(i for i, s in enumerate(sections) if s.type_name == "TempMem")
    descriptor = firmware.index(b"TDVF", len(firmware) - 0x10000)
    struct.pack_into("<Q", firmware, descriptor + 16 + 32 * temp + 16, 1 << 44)
    with pytest.raises(ParseError, match="pages to add"):
        compute_mrtd(bytes(firmware))


def test_page_aug_sections_add_nothing_whatever_their_size(ovmf: Path) -> None:
    """A PAGE.AUG section is accepted by the TD later, not added by the VMM: it has no MRTD
    record, and its size (not bounded by the pages-to-add limit) is never iterated."""
    firmware = bytearray(ovmf.read_bytes())
    sections = parse_tdvf(bytes(firmware))
    temp = next(i for i, s in enumerate(sections) if s.type_name == "TempMem")
    entry = firmware.index(b"TDVF", len(firmware) - 0x10000) + 16 + 32 * temp
    struct.pack_into("<Q", firmware, entry + 16, 1 << 44)  # MemoryDataSize
    struct.pack_into("<I", firmware, entry + 28, PAGE_AUG)  # Attributes
    assert parse_tdvf(bytes(firmware))[temp].memory_size == 1 << 44
    # The metadata lies in the measured BFV, so MRTD changes with it; the records do not
    # include the PAGE.AUG section.
    assert compute_mrtd(bytes(firmware)) == _two_pass_records(bytes(firmware))
