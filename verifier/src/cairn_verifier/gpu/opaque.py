"""The OpaqueData of an NVIDIA MEASUREMENTS response: NVIDIA's signed TLV fields.

Two layouts exist, both little-endian:

* legacy (every capture in tests/vectors/gpu): ``type (2) | size (2) | value (size)``, repeated
  to fill OpaqueLength exactly;
* NVDAOD (newer firmware): a 12-byte header — ``"NVDAOD"``, profile (2, must be 0), major (1),
  minor (1), 2 reserved bytes — then ``type (2) | value type (2) | size (2) | value``.

Fields of types Cairn does not know are kept (and shown) but never interpreted; a type given
twice is refused, since nothing says which one the device meant. What the known fields mean,
and how they differ between GPUs and NVSwitches, is :data:`GPU_FIELDS` and :data:`SWITCH_FIELDS`.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, NamedTuple

from ..errors import ParseError
from .families import DeviceKind

COMPONENT: Final = "opaque data"
_PRINTABLE: Final = re.compile(rb"[\x20-\x7e]*")
NVDAOD_MAGIC: Final = b"NVDAOD"
NVDAOD_HEADER_SIZE: Final = 12
NVDAOD_PROFILE: Final = 0

_COMMON: Final = {
    1: "CERT_ISSUER_NAME",
    2: "CERT_AUTHORITY_KEY_IDENTIFIER",
    3: "DRIVER_VERSION",
    4: "GPU_INFO",
    5: "SKU",
    6: "VBIOS_VERSION",
    7: "MANUFACTURER_ID",
    8: "TAMPER_DETECTION",
    9: "SMC",
    10: "VPR",
    11: "NVDEC0_STATUS",
    12: "MSRSCNT",
    13: "CPRINFO",
    14: "BOARD_ID",
    15: "CHIP_SKU",
    16: "CHIP_SKU_MOD",
    17: "PROJECT",
    18: "PROJECT_SKU",
    19: "PROJECT_SKU_MOD",
    20: "FWID",
    21: "PROTECTED_PCIE_STATUS",
    255: "INVALID",
}
GPU_FIELDS: Final[Mapping[int, str]] = MappingProxyType(
    _COMMON
    | {
        22: "SWITCH_PDI",
        23: "FLOORSWEPT_PORTS",
        24: "POSITION_ID",
        25: "LOCK_SWITCH_STATUS",
        32: "GPU_LINK_CONN",
        33: "SYS_ENABLE_STATUS",
        34: "OPAQUE_DATA_VERSION",
        35: "CHIP_INFO",
        36: "FEATURE_FLAG",
    }
)
"""GPU opaque field types (NVIDIA's OPAQUE_FIELD_ID_* names without the prefix)."""
SWITCH_FIELDS: Final[Mapping[int, str]] = MappingProxyType(
    _COMMON
    | {
        22: "DEVICE_PDI",
        23: "DISABLED_PORTS",
        24: "SWITCH_POSITION_ID",
        25: "SWITCH_LOCK_STATUS",
        26: "SWITCH_GPU_PDIS",
        27: "SWITCH_PORTS",
    }
)
"""NVSwitch opaque field types: types 22-27 mean other things than on a GPU."""


def field_names(kind: DeviceKind) -> Mapping[int, str]:
    return SWITCH_FIELDS if kind is DeviceKind.SWITCH else GPU_FIELDS


class OpaqueField(NamedTuple):
    """One field: its type, NVDAOD value type (None in the legacy layout) and value (a tuple:
    a report has a dozen or more and is verified often)."""

    type: int
    value_type: int | None
    value: bytes
    offset: int
    """Offset of the field's type in the report."""


@dataclass(frozen=True)
class OpaqueData:
    """The fields in report order, and the NVDAOD header's version when there is one."""

    fields: tuple[OpaqueField, ...]
    header_version: tuple[int, int] | None = None
    _by_type: Mapping[int, OpaqueField] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # a type appears at most once (parse_opaque refuses repeats); a report is read often
        object.__setattr__(self, "_by_type", {item.type: item for item in self.fields})

    def get(self, field_type: int) -> OpaqueField | None:
        return self._by_type.get(field_type)

    def value(self, field_type: int) -> bytes | None:
        item = self.get(field_type)
        return None if item is None else item.value


def parse_opaque(data: bytes, *, offset: int = 0) -> OpaqueData:
    """The fields of an OpaqueData blob (``offset``: where it sits in the report, for errors)."""
    raw = bytes(data)
    header_version = None
    position = 0
    layout = _LEGACY
    if raw[:6] == NVDAOD_MAGIC and len(raw) >= NVDAOD_HEADER_SIZE:
        (profile,) = struct.unpack_from("<H", raw, 6)
        if profile != NVDAOD_PROFILE:
            raise _error(
                f"NVDAOD opaque data profile {profile} is not the profile {NVDAOD_PROFILE} "
                "Cairn reads",
                "NVDAOD profile",
                offset + 6,
            )
        header_version = (raw[8], raw[9])
        position = NVDAOD_HEADER_SIZE
        layout = _NVDAOD
    fields: list[OpaqueField] = []
    seen: set[int] = set()
    while position < len(raw):
        start = position
        if len(raw) - position < layout.size:
            raise _error("an opaque field header is cut off", "opaque field type", offset + start)
        if layout is _NVDAOD:
            field_type, value_type, size = layout.unpack_from(raw, position)
        else:
            field_type, size = layout.unpack_from(raw, position)
            value_type = None
        position += layout.size
        if size > len(raw) - position:
            raise _error(
                f"opaque field {field_type} needs {size} bytes, only {len(raw) - position} left",
                f"opaque field {field_type} value",
                offset + position,
            )
        if field_type in seen:
            raise _error(
                f"opaque field type {field_type} appears twice",
                f"opaque field {field_type}",
                offset + start,
            )
        seen.add(field_type)
        fields.append(
            OpaqueField(field_type, value_type, raw[position : position + size], start + offset)
        )
        position += size
    return OpaqueData(tuple(fields), header_version)


_LEGACY: Final = struct.Struct("<HH")
"""type, size"""
_NVDAOD: Final = struct.Struct("<HHH")
"""type, value type, size"""


def _error(message: str, field: str, offset: int) -> ParseError:
    return ParseError(message, component=COMPONENT, field=field, offset=offset)


# ------------------------------------------------------------------------- field decoders


def text(field: OpaqueField, name: str) -> str:
    """A NUL-terminated ASCII string (driver version, project, SKUs): printable characters,
    then only NUL bytes."""
    body, _, padding = field.value.partition(b"\0")
    if any(padding) or not _PRINTABLE.fullmatch(body):
        raise ParseError(
            f"opaque field {name} is not NUL-terminated printable ASCII ({field.value.hex()})",
            component=COMPONENT,
            field=name,
            offset=field.offset,
        )
    return body.decode("ascii")


def gpu_vbios_version(field: OpaqueField) -> str:
    """A GPU's VBIOS version ``96.00.9F.00.01`` from its 8-byte field: the little-endian 32-bit
    word of bytes 0-3 (``96009F00``) then byte 4 (``01``), as NVIDIA's tools print it; bytes
    5-7 are not part of the version."""
    value = field.value
    if len(value) != 8:
        raise ParseError(
            f"opaque field VBIOS_VERSION is {len(value)} bytes, a GPU's is 8",
            component=COMPONENT,
            field="VBIOS_VERSION",
            offset=field.offset,
        )
    digits = f"{int.from_bytes(value[:4], 'little'):08X}{value[4]:02X}"
    return ".".join(digits[i : i + 2] for i in range(0, 10, 2))


def uint_le(field: OpaqueField, name: str, *, max_size: int = 8) -> int:
    if not 1 <= len(field.value) <= max_size:
        raise ParseError(
            f"opaque field {name} is {len(field.value)} bytes, expected 1 to {max_size}",
            component=COMPONENT,
            field=name,
            offset=field.offset,
        )
    return int.from_bytes(field.value, "little")


def _check_list(field: OpaqueField, name: str, size: int, what: str) -> int:
    """The number of ``size``-byte items ``field`` holds; ParseError if it is not a whole
    number of them."""
    count, rest = divmod(len(field.value), size)
    if rest:
        raise ParseError(
            f"opaque field {name} is {len(field.value)} bytes, not a list of {what}",
            component=COMPONENT,
            field=name,
            offset=field.offset,
        )
    return count


def _chunks(field: OpaqueField, name: str, size: int, what: str) -> list[bytes]:
    value = field.value
    _check_list(field, name, size, what)
    return [value[i : i + size] for i in range(0, len(value), size)]


def uint32_list(field: OpaqueField, name: str) -> tuple[int, ...]:
    """A list of little-endian 32-bit counts (MSRSCNT)."""
    count = _check_list(field, name, 4, "32-bit counts")
    return struct.unpack(f"<{count}I", field.value)


def pdi_list(field: OpaqueField, name: str) -> tuple[str, ...]:
    """A list of 8-byte platform device identifiers, as upper-case hex."""
    return tuple(c.hex().upper() for c in _chunks(field, name, 8, "8-byte PDIs"))
