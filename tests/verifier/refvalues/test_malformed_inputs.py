"""Reference-value inputs are attacker-controlled (a firmware, kernel or UKI handed to
``cairn reference-values``): over mutations of the bytes that steer the parsers — Debian's real
OVMF.fd's GUIDed table and TDVF metadata, a real UKI's PE headers and section table — MRTD, the
UKI's sections and Authenticode digests are computed or refused as malformed input (exit 10),
never an untyped exception or unbounded work."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from efi_tools import run, tool
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier.errors import ExitCode, MalformedInputError
from cairn_verifier.refvalues.authenticode import authenticode_digest
from cairn_verifier.refvalues.tdvf import compute_mrtd
from cairn_verifier.refvalues.uki import parse_uki, pcr11_sections

MUTATIONS = st.lists(
    st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8
)
"""Up to eight (position, byte) writes into the region a test mutates."""
SETTINGS = settings(max_examples=150, deadline=None)


def _mutate(data: bytes, start: int, end: int, mutations: list[tuple[int, int]]) -> bytes:
    """``data`` with each (position, byte) written at ``start + position % (end - start)``."""
    out = bytearray(data)
    for position, value in mutations:
        out[start + position % (end - start)] = value
    return bytes(out)


def _refused_as_malformed(error: MalformedInputError) -> None:
    assert error.exit_code == ExitCode.MALFORMED_INPUT
    assert str(error)


@pytest.fixture(scope="module")
def firmware(ovmf: Path) -> tuple[bytes, int]:
    """The real OVMF.fd and where its steering bytes start: the TDVF descriptor, its sections
    and the GUIDed table up to the end of the image."""
    data = ovmf.read_bytes()
    return data, data.index(b"TDVF", len(data) - 0x10000)


@pytest.fixture(scope="module")
def uki(stub: Path, boot_efi: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real UKI: Debian's systemd-stub with a kernel-shaped PE, a command line and an initrd
    added by objcopy."""
    work = tmp_path_factory.mktemp("uki-malformed")
    (work / "cmdline").write_bytes(b"console=ttyS0")
    (work / "initrd").write_bytes(bytes(range(256)) * 64)
    args: list[str | Path] = [tool("objcopy", "binutils")]
    for index, (name, path) in enumerate(
        (("cmdline", work / "cmdline"), ("linux", boot_efi), ("initrd", work / "initrd"))
    ):
        args += ["--add-section", f".{name}={path}"]
        args += ["--change-section-vma", f".{name}=0x{0x20000 + index * 0x2000000:x}"]
    run(*args, stub, work / "uki.efi")
    return (work / "uki.efi").read_bytes()


@SETTINGS
@given(mutations=MUTATIONS, order=st.sampled_from(["two-pass", "single-pass"]))
def test_mutated_tdvf_metadata_gives_an_mrtd_or_malformed_input(
    firmware: tuple[bytes, int], mutations: list[tuple[int, int]], order: str
) -> None:
    data, descriptor = firmware
    mutated = _mutate(data, descriptor, len(data), mutations)
    try:
        mrtd = compute_mrtd(mutated, "two-pass" if order == "two-pass" else "single-pass")
    except MalformedInputError as error:
        _refused_as_malformed(error)
    else:
        assert len(mrtd) == 48


@SETTINGS
@given(mutations=MUTATIONS)
def test_mutated_pe_headers_give_digests_or_malformed_input(
    uki: bytes, mutations: list[tuple[int, int]]
) -> None:
    (size_of_headers,) = struct.unpack_from("<I", uki, struct.unpack_from("<I", uki, 0x3C)[0] + 84)
    mutated = _mutate(uki, 0, size_of_headers, mutations)
    try:
        parsed = parse_uki(mutated)
        digests = [authenticode_digest(parsed.image)]
        digests.append(authenticode_digest(parsed.sections[".linux"]))
    except MalformedInputError as error:
        _refused_as_malformed(error)
    else:
        assert all(len(d) == 32 for d in digests)
        assert len(pcr11_sections(parsed.sections)) == 32


def test_the_unmutated_inputs_are_accepted(firmware: tuple[bytes, int], uki: bytes) -> None:
    """The properties above start from inputs that compute: a refusal is the mutation's."""
    assert len(compute_mrtd(firmware[0])) == 48
    assert parse_uki(uki).sections[".cmdline"] == b"console=ttyS0"
