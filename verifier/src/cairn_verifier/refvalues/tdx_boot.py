"""RTMR[1] and RTMR[2] of a TD that QEMU boots directly (``-kernel -initrd -append``) with TDVF.

What TDVF and the kernel measure on that path (the events of a real TD's CCEL; dstack's
attestations show them, ``tests/vectors/eventlog``):

* **RTMR[1]** (PCR 2-6): the kernel's Authenticode SHA-384 (``EV_EFI_BOOT_SERVICES_APPLICATION``;
  the kernel *as QEMU hands it over*: its setup header patched by QEMU, the buffer padded to
  8 bytes), ``EV_EFI_ACTION`` "Calling EFI Application from Boot Option", the separator, and
  at ExitBootServices "Exit Boot Services Invocation" and "Exit Boot Services Returned with
  Success".
* **RTMR[2]** (PCR 8-15): the Linux EFI stub's two tagged events: the load options (the command
  line OVMF passes, UTF-16LE with its NUL; with an initrd OVMF puts ``initrd=initrd `` in
  front), then the initrd.

QEMU's setup-header patch (hw/i386/x86.c, ``x86_load_linux``) writes the loader type, heap end,
command-line address and the initrd's address and size into the kernel before handing it over;
the initrd address depends on the guest's memory below 4 GiB (q35: below 2 GiB once the VM has
2.75 GiB or more) and on QEMU's ACPI data size, so RTMR[1] depends on the VM's memory size.

RTMR[0] (the TD HOB, the ACPI tables QEMU generates, Secure Boot variables, boot variables) is
:mod:`.tdx_rtmr0`'s: it needs QEMU's ACPI data as an input.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from typing import Final

from ..errors import MalformedInputError
from .authenticode import authenticode_digest

COMPONENT: Final = "TDX reference values"
CALLING_EFI_APPLICATION: Final = b"Calling EFI Application from Boot Option"
EXIT_BOOT_SERVICES: Final = b"Exit Boot Services Invocation"
EXIT_BOOT_SERVICES_DONE: Final = b"Exit Boot Services Returned with Success"
SEPARATOR: Final = b"\x00\x00\x00\x00"
INITRD_PREFIX: Final = "initrd=initrd "
QEMU_ACPI_DATA_SIZE: Final = 0x28000
"""QEMU's ACPI data size for the q35 and pc machine types (0x20000 + 0x8000)."""
Q35_HIGH_MEMORY: Final = 0xB0000000
"""From this much RAM on, q35 keeps only 2 GiB below 4 GiB."""
MIN_KERNEL_BYTES: Final = 0x1000


def _sha384(data: bytes) -> bytes:
    return hashlib.sha384(data).digest()


def extend_chain(digests: Iterable[bytes]) -> bytes:
    """An RTMR after extending each digest in turn, from zero."""
    value = bytes(48)
    for digest in digests:
        value = _sha384(value + digest)
    return value


def _below_4g(memory: int) -> int:
    return 0x80000000 if memory >= Q35_HIGH_MEMORY else min(memory, Q35_HIGH_MEMORY)


def patch_kernel(kernel: bytes, initrd_size: int, memory: int, acpi_data_size: int) -> bytes:
    """The kernel as QEMU hands it to the firmware (its boot-protocol setup header patched)."""
    if len(kernel) < MIN_KERNEL_BYTES or kernel[0x202:0x206] != b"HdrS":
        raise MalformedInputError(
            "the kernel is not a Linux x86 boot image (no HdrS setup header at 0x202)",
            component=COMPONENT,
            hint="pass the bzImage QEMU boots with -kernel (the cvm-tdx-boot bundle's kernel)",
        )
    image = bytearray(kernel)
    (protocol,) = struct.unpack_from("<H", image, 0x206)
    loadflags = image[0x211]
    if protocol < 0x200 or not loadflags & 0x01:
        real_addr, cmdline_addr = 0x90000, 0x9A000
    else:
        real_addr, cmdline_addr = 0x10000, 0x20000
    if protocol >= 0x200:
        image[0x210] = 0xB0  # type_of_loader: QEMU
    if protocol >= 0x201:
        image[0x211] |= 0x80  # CAN_USE_HEAP
        struct.pack_into("<I", image, 0x224, cmdline_addr - real_addr - 0x200)
    if protocol >= 0x202:
        struct.pack_into("<I", image, 0x228, cmdline_addr)
    else:
        struct.pack_into("<HH", image, 0x20, 0xA33F, cmdline_addr - real_addr)
    if initrd_size:
        if protocol < 0x200:
            raise MalformedInputError(
                "the kernel's boot protocol is too old for an initrd", component=COMPONENT
            )
        if protocol >= 0x20C and struct.unpack_from("<H", image, 0x236)[0] & 0x40:
            initrd_max = 0xFFFFFFFF
        elif protocol >= 0x203:
            initrd_max = struct.unpack_from("<I", image, 0x22C)[0] or 0x37FFFFFF
        else:
            initrd_max = 0x37FFFFFF
        available = _below_4g(memory) - acpi_data_size
        if available <= 0:
            raise MalformedInputError("the memory size is too small", component=COMPONENT)
        initrd_max = min(initrd_max, available - 1)
        if initrd_size >= initrd_max:
            raise MalformedInputError("the initrd does not fit below 4 GiB", component=COMPONENT)
        struct.pack_into("<II", image, 0x218, (initrd_max - initrd_size) & ~0xFFF, initrd_size)
    return bytes(image)


def kernel_authenticode(kernel: bytes, initrd_size: int, memory: int, acpi_data_size: int) -> bytes:
    """RTMR[1]'s first digest: the patched kernel's Authenticode SHA-384 (8-byte padded)."""
    patched = patch_kernel(kernel, initrd_size, memory, acpi_data_size)
    return authenticode_digest(patched, "sha384", pad_to=8)


def rtmr1_events(kernel_digest: bytes) -> list[bytes]:
    return [
        kernel_digest,
        _sha384(CALLING_EFI_APPLICATION),
        _sha384(SEPARATOR),
        _sha384(EXIT_BOOT_SERVICES),
        _sha384(EXIT_BOOT_SERVICES_DONE),
    ]


def load_options(cmdline: str, has_initrd: bool) -> bytes:
    """The load options OVMF gives the kernel: UTF-16LE with a NUL, ``initrd=initrd `` first
    when an initrd is given."""
    text = (INITRD_PREFIX if has_initrd else "") + cmdline
    return (text + "\x00").encode("utf-16-le")


def rtmr2_events(cmdline_digest: bytes, initrd_digest: bytes | None) -> list[bytes]:
    return [cmdline_digest] if initrd_digest is None else [cmdline_digest, initrd_digest]
