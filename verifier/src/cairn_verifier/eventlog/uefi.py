"""Decode the UEFI structures inside event data, for display only.

Event data is *not* what a register is extended with (the digest is), so nothing decoded here
is evidence by itself; :mod:`.describe` marks an event verified only when its register's replay
matches a covered value. Decoding is lenient: data that does not fit a structure is shown as
undecoded, never an error.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

MAX_DEVICE_PATH_NODES = 64


def utf16z(data: bytes) -> str | None:
    """A NUL-terminated (or unterminated) UTF-16LE string, or None if ``data`` is not one."""
    if len(data) % 2:
        return None
    try:
        text = data.decode("utf-16-le")
    except UnicodeDecodeError:
        return None
    text = text.split("\x00", 1)[0]
    return text if text.isprintable() else None


def ascii_text(data: bytes) -> str | None:
    """Printable ASCII/UTF-8 text (one trailing NUL allowed), or None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text.removesuffix("\x00")
    return text if text and all(c.isprintable() or c in "\n\t" for c in text) else None


def text(data: bytes) -> str | None:
    """The event data as text: UTF-16LE where it decodes to printable text, else ASCII."""
    if len(data) >= 4 and data[1] == 0 and data[3] == 0:
        wide = utf16z(data)
        if wide:
            return wide
    return ascii_text(data)


@dataclass(frozen=True)
class Variable:
    """``UEFI_VARIABLE_DATA``: a variable's vendor GUID, name and value."""

    guid: str
    name: str
    value: bytes


def variable(data: bytes) -> Variable | None:
    """Decode ``UEFI_VARIABLE_DATA`` (GUID, name length, data length, name, data)."""
    if len(data) < 32:
        return None
    guid = str(uuid.UUID(bytes_le=data[:16]))
    name_chars, value_size = struct.unpack_from("<QQ", data, 16)
    end = 32 + 2 * name_chars
    if name_chars > 1024 or end + value_size != len(data):
        return None
    name = utf16z(data[32:end])
    if name is None:
        return None
    return Variable(guid, name, data[end:])


def device_path_files(path: bytes) -> list[str]:
    """The file-path nodes (type 4, subtype 4) of a UEFI device path, joined per path."""
    files: list[str] = []
    offset = 0
    for _ in range(MAX_DEVICE_PATH_NODES):
        if offset + 4 > len(path):
            break
        node_type, subtype, length = struct.unpack_from("<BBH", path, offset)
        if length < 4 or offset + length > len(path) or node_type == 0x7F:
            break
        if node_type == 4 and subtype == 4:
            name = utf16z(path[offset + 4 : offset + length])
            if name:
                files.append(name)
        offset += length
    return files


def image_load_path(data: bytes) -> str | None:
    """The file path of ``UEFI_IMAGE_LOAD_EVENT`` (an EV_EFI_BOOT_SERVICES_APPLICATION)."""
    if len(data) < 32:
        return None
    (path_size,) = struct.unpack_from("<Q", data, 24)
    if 32 + path_size != len(data):
        return None
    files = device_path_files(data[32:])
    return "".join(files) if files else None


def tagged_event(data: bytes) -> tuple[int, bytes] | None:
    """``TCG_PCClientTaggedEvent``: (taggedEventID, data)."""
    if len(data) < 8:
        return None
    tag, size = struct.unpack_from("<II", data)
    if 8 + size != len(data):
        return None
    return tag, data[8:]
