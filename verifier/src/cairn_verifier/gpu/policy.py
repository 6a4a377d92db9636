"""The GPU section of a Cairn policy (``[gpu]`` in a policy file; docs/policy.md).

What a relying party accepts from NVIDIA GPUs and NVSwitches. Authenticity (signature, chain to
the pinned root, nonce, FWID when present) is never optional; what identifies the firmware
(RIM match, versions) and how strictly collateral must be at hand is chosen here. Defaults:
any NVIDIA family, any version, RIM comparison and revocation when their collateral is at hand
(skipped with the reason otherwise), OCSP answers at most a week old.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, Strict, field_validator

from ..policy import Flag, PolicyModel, Text
from .families import DeviceFamily

_DRIVER = re.compile(r"[0-9]{1,4}(\.[0-9]{1,4}){1,3}")
_FIRMWARE = re.compile(r"[0-9A-Fa-f]{2}(\.[0-9A-Fa-f]{2}){4}")

AllowedWarning = Literal["certificate-hold"]
"""Conditions a policy may accept with a warning instead of a failure:
``certificate-hold``: a RIM signer certificate that OCSP reports on hold (NVIDIA's tools allow
it the same way)."""


def driver_key(version: str) -> tuple[int, ...]:
    """``550.90.07`` as numbers, for comparisons (ValueError if it is not a driver version)."""
    if not _DRIVER.fullmatch(version):
        raise ValueError(f"{version!r:.40} is not a driver version like 550.90.07")
    return tuple(int(part) for part in version.split("."))


def firmware_key(version: str) -> tuple[int, ...]:
    """``96.00.9F.00.01`` (VBIOS, NVSwitch BIOS) as numbers: five hex bytes."""
    if not _FIRMWARE.fullmatch(version):
        raise ValueError(f"{version!r:.40} is not a firmware version like 96.00.9F.00.01")
    return tuple(int(part, 16) for part in version.split("."))


def _driver(value: str) -> str:
    driver_key(value)
    return value


def _firmware(value: str) -> str:
    firmware_key(value)
    return value.upper()


DriverVersion = Annotated[Text, AfterValidator(_driver)]
FirmwareVersion = Annotated[Text, AfterValidator(_firmware)]
Count = Annotated[int, Strict(), Field(ge=0, le=64)]


class GpuPolicy(PolicyModel):
    """What a relying party accepts from GPUs and NVSwitches. Defaults fail closed on
    authenticity and say plainly what they leave unchecked."""

    families: tuple[DeviceFamily, ...] = ()
    """Accepted device families (GH100, GB100, LS_10); empty = any NVIDIA family."""
    device_counts: dict[DeviceFamily, Count] = Field(default_factory=dict)
    """Exactly this many devices of each family named (e.g. ``{GH100 = 8, LS_10 = 4}``)."""
    driver_versions: tuple[DriverVersion, ...] = ()
    """Accepted GPU driver versions (any one); empty = any."""
    minimum_driver_version: DriverVersion | None = None
    vbios_versions: tuple[FirmwareVersion, ...] = ()
    """Accepted GPU VBIOS versions (any one); empty = any."""
    minimum_vbios_version: FirmwareVersion | None = None
    switch_bios_versions: tuple[FirmwareVersion, ...] = ()
    """Accepted NVSwitch BIOS versions (any one); empty = any."""
    minimum_switch_bios_version: FirmwareVersion | None = None
    require_fwid: Flag = False
    """Fail a device whose report has no FWID (older firmware) instead of skipping the check."""
    require_rim_match: Flag = False
    """Fail (exit 5) when a device's RIMs cannot be had, instead of skipping the comparison."""
    require_revocation: Flag = False
    """Fail (exit 5) when revocation of a chain cannot be checked (no OCSP response or CRL at
    hand, or only one older than ``ocsp_max_age_hours``), instead of skipping it."""
    ocsp_max_age_hours: Annotated[int, Strict(), Field(ge=1, le=24 * 3650)] = 168
    """An OCSP response (or CRL) older than this at the verification time does not count."""
    rim_max_age_days: Annotated[int, Strict(), Field(ge=1, le=3650)] | None = None
    """A RIM fetched longer ago than this before the verification time is not used."""
    allowed_warnings: tuple[AllowedWarning, ...] = ()

    @field_validator("families", mode="before")
    @classmethod
    def _families(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(str(v).upper() if isinstance(v, str) else v for v in value)
        return value
