"""A bzImage-shaped test kernel for the TDX reference-value tests (QEMU patches its setup
header; TDVF measures its Authenticode digest)."""

from __future__ import annotations

import struct


def bzimage(code: bytes, *, protocol: int = 0x20F, xlf: int = 0x0040) -> bytes:
    """A bzImage-shaped test kernel: a PE32+ image whose headers end before the Linux setup
    header at 0x1F1 (as in a real bzImage), one section holding ``code``, and the boot
    protocol's ``HdrS`` header. Its layout is written here; its bytes are test data."""
    body = code[: 0x1000 * (len(code) // 0x1000)] or bytes(0x1000)
    image = bytearray(0x400 + len(body))
    image[:2] = b"MZ"
    struct.pack_into("<I", image, 0x3C, 0x40)
    image[0x40:0x44] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", image, 0x44, 0x8664, 1, 0, 0, 0, 0xF0, 0x22)
    optional = 0x58
    struct.pack_into("<H", image, optional, 0x20B)
    struct.pack_into("<I", image, optional + 60, 0x400)  # SizeOfHeaders
    struct.pack_into("<I", image, optional + 108, 16)  # NumberOfRvaAndSizes
    section = optional + 0xF0
    struct.pack_into("<8sIIII", image, section, b".text", len(body), 0x1000, len(body), 0x400)
    image[0x400:] = body
    image[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", image, 0x206, protocol)
    image[0x211] = 0x01  # LOADED_HIGH
    struct.pack_into("<H", image, 0x236, xlf)
    return bytes(image)
