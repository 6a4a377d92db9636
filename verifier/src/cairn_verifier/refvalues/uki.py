"""Predict the vTPM PCRs of a unified kernel image (UKI) boot: PCR 11 as systemd-measure
computes it, PCR 4 and PCR 9 under stated assumptions about the firmware and the kernel.

**PCR 11** (systemd-stub; systemd-measure(1)): for every UKI section present, in systemd's
order (``.linux .osrel .cmdline .initrd .ucode .splash .dtb .uname .sbat .pcrpkey .profile
.dtbauto .hwids .efifw``; ``.pcrsig`` is never measured), the stub extends the section name
with its NUL, then the section's content. Later, systemd-pcrphase extends the boot phases
(``enter-initrd``, ``leave-initrd``, ``sysinit``, ``ready``, …), each as the digest of its
name. The value after each phase is given, as ``systemd-measure calculate`` prints it.

**PCR 4** (the firmware; TCG PC Client PFP): ``EV_EFI_ACTION`` "Calling EFI Application from
Boot Option", the ``EV_SEPARATOR`` (four zero bytes), then the Authenticode digest of each
EFI application loaded: the UKI itself and, with ``kernel_via_loadimage`` (systemd-stub from
version 255 hands the ``.linux`` PE to the firmware's LoadImage), the embedded kernel. This
holds for OVMF-like firmware that boots the UKI as the first and only boot application (the
fallback path ``\\EFI\\BOOT\\BOOTX64.EFI``) and measures nothing else into PCR 4; check it
against one real boot's event log (``cairn show eventlog``) before pinning it.

**PCR 9** (the Linux EFI stub, for kernels that measure both tagged events): the load options
— the command line systemd-stub passes, UTF-16LE with its NUL — then the initrd it serves
(the ``.ucode`` and ``.initrd`` sections, concatenated, when no credentials, sysexts or
add-ons are added at boot).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from ..errors import MalformedInputError
from .authenticode import authenticode_digest
from .pe import PeImage, parse_pe

COMPONENT: Final = "UKI"
MEASURED_SECTIONS: Final = (
    ".linux",
    ".osrel",
    ".cmdline",
    ".initrd",
    ".ucode",
    ".splash",
    ".dtb",
    ".uname",
    ".sbat",
    ".pcrpkey",
    ".profile",
    ".dtbauto",
    ".hwids",
    ".efifw",
)
"""systemd's ``unified_sections[]`` order (src/fundamental/uki.c of systemd 257 and later),
without ``.pcrsig``: what the stub of NixOS 25.11 (systemd 258) measures."""
SYSTEMD_252_SECTIONS: Final = (
    ".linux",
    ".osrel",
    ".cmdline",
    ".initrd",
    ".splash",
    ".dtb",
    ".pcrpkey",
)
"""The sections systemd 252's stub and systemd-measure know (Debian 12): no ``.sbat``."""
BOOT_PHASES: Final = ("enter-initrd", "leave-initrd", "sysinit", "ready")
"""The phases systemd-pcrphase extends into PCR 11 up to a fully booted system."""
CALLING_EFI_APPLICATION: Final = b"Calling EFI Application from Boot Option"
SEPARATOR: Final = b"\x00\x00\x00\x00"


def _extend(algorithm: str, value: bytes, data: bytes) -> bytes:
    return hashlib.new(algorithm, value + hashlib.new(algorithm, data).digest()).digest()


def pcr11_sections(
    sections: Mapping[str, bytes],
    algorithm: str = "sha256",
    measured: Sequence[str] = MEASURED_SECTIONS,
) -> bytes:
    """PCR 11 after systemd-stub measured ``sections`` (name → content), from zero; only the
    names in ``measured`` count, in that order (the stub's version decides the list)."""
    value = bytes(hashlib.new(algorithm).digest_size)
    for name in measured:
        if name in sections:
            value = _extend(algorithm, value, name.encode() + b"\x00")
            value = _extend(algorithm, value, sections[name])
    return value


def pcr11_phases(
    sections: Mapping[str, bytes],
    algorithm: str = "sha256",
    phases: Sequence[str] = BOOT_PHASES,
    measured: Sequence[str] = MEASURED_SECTIONS,
) -> list[tuple[str, bytes]]:
    """PCR 11 after each boot phase (``enter-initrd``, ``enter-initrd:leave-initrd``, …)."""
    value = pcr11_sections(sections, algorithm, measured)
    out = []
    for index, phase in enumerate(phases):
        value = _extend(algorithm, value, phase.encode())
        out.append((":".join(phases[: index + 1]), value))
    return out


@dataclass(frozen=True)
class Uki:
    """A parsed UKI: its PE image and the measured sections' contents."""

    image: PeImage
    sections: dict[str, bytes] = field(default_factory=dict)

    @property
    def cmdline(self) -> str | None:
        raw = self.sections.get(".cmdline")
        return None if raw is None else raw.rstrip(b"\x00").decode("utf-8", errors="replace")


def parse_uki(data: bytes) -> Uki:
    """The measured sections of a UKI (each read as loaded: ``VirtualSize`` bytes)."""
    image = parse_pe(data)
    sections: dict[str, bytes] = {}
    for section in image.sections:
        if section.name in MEASURED_SECTIONS:
            if section.name in sections:
                raise MalformedInputError(
                    f"the UKI has two {section.name} sections", component=COMPONENT
                )
            sections[section.name] = image.section_data(section)
    if ".profile" in sections:
        raise MalformedInputError(
            "multi-profile UKIs are not predicted (their PCR 11 depends on the profile chosen)",
            component=COMPONENT,
        )
    if ".linux" not in sections:
        raise MalformedInputError(
            "no .linux section: not a unified kernel image",
            component=COMPONENT,
            hint="pass the UKI (a PE built by ukify or the NixOS uki module), not a plain kernel",
        )
    return Uki(image, sections)


def pcr4(
    boot_applications: Iterable[bytes], algorithm: str = "sha256"
) -> tuple[bytes, list[bytes]]:
    """PCR 4 and its event digests: the action, the separator, each application's digest."""
    events = [
        hashlib.new(algorithm, CALLING_EFI_APPLICATION).digest(),
        hashlib.new(algorithm, SEPARATOR).digest(),
        *boot_applications,
    ]
    value = bytes(hashlib.new(algorithm).digest_size)
    for digest in events:
        value = hashlib.new(algorithm, value + digest).digest()
    return value, events


def uki_pcr4(uki: Uki, algorithm: str = "sha256", *, kernel_via_loadimage: bool = True) -> bytes:
    """PCR 4 of booting ``uki`` as the only boot application (see the module docstring)."""
    applications = [authenticode_digest(uki.image, algorithm)]
    if kernel_via_loadimage:
        applications.append(authenticode_digest(uki.sections[".linux"], algorithm))
    return pcr4(applications, algorithm)[0]


def uki_pcr9(uki: Uki, algorithm: str = "sha256") -> bytes | None:
    """PCR 9 as the Linux EFI stub leaves it (load options, then the initrd); None without an
    embedded command line (the boot loader's command line is then not known here)."""
    cmdline = uki.cmdline
    if cmdline is None:
        return None
    options = (cmdline + "\x00").encode("utf-16-le")
    initrd = uki.sections.get(".ucode", b"") + uki.sections.get(".initrd", b"")
    value = bytes(hashlib.new(algorithm).digest_size)
    for data in (options, initrd):
        value = _extend(algorithm, value, data)
    return value
