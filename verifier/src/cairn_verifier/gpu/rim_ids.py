"""Which RIMs describe a device: their identifiers at NVIDIA's RIM service.

Derived only from the device's signed report and its certified family:

* GPU driver RIM: ``NV_GPU_DRIVER_GH100_<driver>`` (Hopper), ``NV_GPU_CC_DRIVER_GB100_<driver>``
  (Blackwell), the driver version from opaque field DRIVER_VERSION (``550.90.07``);
* GPU VBIOS RIM: ``NV_GPU_VBIOS_<PROJECT>_<PROJECT_SKU>_<CHIP_SKU>_<VBIOS>``, the board fields
  from the opaque fields of those names and the VBIOS version without dots (``96009F0001``);
* NVSwitch BIOS RIM: ``NV_SWITCH_BIOS_5612_0002_890_<BIOS>``: an LS10 switch reports no board
  fields, so its project, SKU and chip SKU are the family's (as NVIDIA's SDK has them).

A RIM document does not name its identifier; what binds it to the device is its product and
version (checked against the report) and the measurements it must match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .families import DeviceFamily, DeviceKind
from .report import DeviceReport

_SAFE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SWITCH_BOARD: Final = {DeviceFamily.LS_10: ("5612", "0002", "890")}
_DRIVER_PREFIX: Final = {
    DeviceFamily.GH100: "NV_GPU_DRIVER_GH100_",
    DeviceFamily.GB100: "NV_GPU_CC_DRIVER_GB100_",
}
RIM_PRODUCTS: Final = {
    DeviceFamily.GH100: "GH100",
    DeviceFamily.GB100: "GB100",
    DeviceFamily.LS_10: "LS10",
}
"""The ``Meta product`` of a family's RIMs."""


class RimRole(StrEnum):
    """Which part of a device a RIM describes."""

    DRIVER = "driver"
    VBIOS = "VBIOS"
    SWITCH_BIOS = "switch BIOS"


@dataclass(frozen=True)
class RimRequest:
    """A RIM a device needs: its role, identifier and the version it must state."""

    role: RimRole
    rim_id: str
    version: str


@dataclass(frozen=True)
class RimPlan:
    """The RIMs of one device, and why any could not be named."""

    requests: tuple[RimRequest, ...]
    missing: tuple[str, ...]


def _part(value: str | None, name: str, missing: list[str]) -> str | None:
    if value is None:
        missing.append(f"the report has no {name} field")
        return None
    if not _SAFE.fullmatch(value):
        missing.append(f"the report's {name} {value!r:.40} cannot be part of a RIM identifier")
        return None
    return value


def rim_plan(family: DeviceFamily, report: DeviceReport) -> RimPlan:
    """The RIMs ``report`` (of a device of ``family``) is compared with."""
    missing: list[str] = []
    requests: list[RimRequest] = []
    version = _part(report.firmware_version, "VBIOS_VERSION", missing)
    compact = None if version is None else version.replace(".", "").upper()
    if family.kind is DeviceKind.SWITCH:
        board_id = "_".join(_SWITCH_BOARD[family])
        if compact is not None and version is not None:
            requests.append(
                RimRequest(
                    RimRole.SWITCH_BIOS,
                    f"NV_SWITCH_BIOS_{board_id}_{compact}",
                    version,
                )
            )
        return RimPlan(tuple(requests), tuple(missing))
    driver = _part(report.driver_version, "DRIVER_VERSION", missing)
    if driver is not None:
        requests.append(RimRequest(RimRole.DRIVER, _DRIVER_PREFIX[family] + driver, driver))
    board = [
        _part(report.project, "PROJECT", missing),
        _part(report.project_sku, "PROJECT_SKU", missing),
        _part(report.chip_sku, "CHIP_SKU", missing),
    ]
    project, sku, chip = board
    if compact is not None and version is not None and project and sku and chip:
        requests.append(
            RimRequest(RimRole.VBIOS, f"NV_GPU_VBIOS_{project}_{sku}_{chip}_{compact}", version)
        )
    return RimPlan(tuple(requests), tuple(missing))
