"""What a device's signed OpaqueData says: versions, board identity, FWID, NVDEC0 status.

Read once the report's signature verified (before that nothing in it is trusted): the fields
the RIM identifiers are derived from (:mod:`.rim_ids`), the FWID that must equal the leaf
certificate's, and the NVDEC0 status that decides whether measurement index 35 is compared.
GPUs and NVSwitches encode some fields differently (:data:`.opaque.SWITCH_FIELDS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from ..errors import ParseError
from .families import DeviceKind
from .opaque import (
    COMPONENT,
    OpaqueData,
    gpu_vbios_version,
    parse_opaque,
    pdi_list,
    text,
    uint32_list,
    uint_le,
)
from .spdm import SpdmReport

DRIVER_VERSION: Final = 3
VBIOS_VERSION: Final = 6
NVDEC0_STATUS: Final = 11
MSRSCNT: Final = 12
CHIP_SKU: Final = 15
PROJECT: Final = 17
PROJECT_SKU: Final = 18
FWID: Final = 20
PDI: Final = 22
SWITCH_GPU_PDIS: Final = 26
OPAQUE_DATA_VERSION: Final = 34
CHIP_INFO: Final = 35
FEATURE_FLAG: Final = 36
FWID_SIZE: Final = 48


class Nvdec0(StrEnum):
    """OPAQUE_FIELD_ID_NVDEC0_STATUS: 0xAA enabled, 0x55 disabled (index 35 not measured)."""

    ENABLED = "enabled"
    DISABLED = "disabled"


_NVDEC0 = {0xAA: Nvdec0.ENABLED, 0x55: Nvdec0.DISABLED}


@dataclass(frozen=True)
class DeviceReport:
    """The decoded opaque fields of one authentic report (None: the field is absent)."""

    kind: DeviceKind
    opaque: OpaqueData
    driver_version: str | None
    firmware_version: str | None
    """A GPU's VBIOS or an NVSwitch's BIOS version, ``96.00.9F.00.01``."""
    project: str | None
    project_sku: str | None
    chip_sku: str | None
    fwid: bytes | None
    nvdec0: Nvdec0 | None
    measurement_counts: tuple[int, ...] | None
    opaque_data_version: int | None
    chip_info: str | None
    feature_flag: int | None
    pdis: tuple[str, ...]
    """A GPU's NVSwitch PDIs, or an NVSwitch's own PDI and its GPUs' PDIs."""


def _optional_text(opaque: OpaqueData, field: int, name: str) -> str | None:
    item = opaque.get(field)
    return None if item is None else text(item, name)


def decode_report(spdm: SpdmReport, kind: DeviceKind) -> DeviceReport:
    """The known opaque fields of ``spdm`` for a device of ``kind`` (ParseError if malformed)."""
    opaque = parse_opaque(spdm.opaque, offset=spdm.opaque_offset)
    firmware = opaque.get(VBIOS_VERSION)
    if firmware is None:
        firmware_version = None
    elif kind is DeviceKind.GPU:
        firmware_version = gpu_vbios_version(firmware)
    else:
        firmware_version = text(firmware, "VBIOS_VERSION")
    fwid_field = opaque.get(FWID)
    if fwid_field is not None and len(fwid_field.value) != FWID_SIZE:
        raise ParseError(
            f"opaque field FWID is {len(fwid_field.value)} bytes, expected {FWID_SIZE} "
            "(a SHA-384 digest)",
            component=COMPONENT,
            field="FWID",
            offset=fwid_field.offset,
        )
    nvdec = opaque.get(NVDEC0_STATUS)
    nvdec0 = None
    if nvdec is not None:
        if len(nvdec.value) != 1 or nvdec.value[0] not in _NVDEC0:
            raise ParseError(
                f"opaque field NVDEC0_STATUS is {nvdec.value.hex()}; NVIDIA defines aa "
                "(enabled) and 55 (disabled)",
                component=COMPONENT,
                field="NVDEC0_STATUS",
                offset=nvdec.offset,
            )
        nvdec0 = _NVDEC0[nvdec.value[0]]
    counts = opaque.get(MSRSCNT)
    version = opaque.get(OPAQUE_DATA_VERSION)
    flag = opaque.get(FEATURE_FLAG)
    pdis: tuple[str, ...] = ()
    if (pdi := opaque.get(PDI)) is not None:
        pdis += pdi_list(pdi, "PDI")
    if kind is DeviceKind.SWITCH and (gpu_pdis := opaque.get(SWITCH_GPU_PDIS)) is not None:
        pdis += pdi_list(gpu_pdis, "SWITCH_GPU_PDIS")
    header_version = opaque.header_version[0] if opaque.header_version else None
    return DeviceReport(
        kind=kind,
        opaque=opaque,
        driver_version=_optional_text(opaque, DRIVER_VERSION, "DRIVER_VERSION"),
        firmware_version=firmware_version,
        project=_optional_text(opaque, PROJECT, "PROJECT"),
        project_sku=_optional_text(opaque, PROJECT_SKU, "PROJECT_SKU"),
        chip_sku=_optional_text(opaque, CHIP_SKU, "CHIP_SKU"),
        fwid=None if fwid_field is None else fwid_field.value,
        nvdec0=nvdec0,
        measurement_counts=None if counts is None else uint32_list(counts, "MSRSCNT"),
        opaque_data_version=(
            header_version
            if header_version is not None
            else (None if version is None else uint_le(version, "OPAQUE_DATA_VERSION"))
        ),
        chip_info=_optional_text(opaque, CHIP_INFO, "CHIP_INFO"),
        feature_flag=None if flag is None else uint_le(flag, "FEATURE_FLAG", max_size=2),
        pdis=pdis,
    )
