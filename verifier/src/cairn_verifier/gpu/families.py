"""NVIDIA device families and what each one is: GPU or NVSwitch, names, RIM rules.

The family comes from the device's leaf certificate (``GH100 A01 GSP FMC LF``), which NVIDIA's
chain signs; envelopes also name an architecture (``HOPPER``, ``BLACKWELL``, ``LS10``), which
is unsigned and only cross-checked. Each family states its FWID extension layout
(:mod:`.fwid`) and how its RIM identifiers are derived (:mod:`.rim_ids`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING

from ..errors import ChainError

if TYPE_CHECKING:
    from ..x509.cert import Certificate


class DeviceKind(StrEnum):
    GPU = "GPU"
    SWITCH = "NVSwitch"


class FwidLayout(StrEnum):
    """Where the leaf certificate carries the firmware ID (docs/gpu.md, "FWID")."""

    HOPPER = "2.23.133.5.4.1"
    """A TCG DICE ``tcg-dice-fwid``-style SEQUENCE {version, SubjectPublicKeyInfo, FWID}."""
    BLACKWELL = "2.23.133.5.4.1.1"
    """A TCG ``DiceTcbInfo`` (implicitly tagged fields) whose ``fwids`` list holds it."""


class DeviceFamily(StrEnum):
    """A chip family the pinned NVIDIA Device Identity CA certifies (the leaf's CN prefix)."""

    GH100 = "GH100"
    GB100 = "GB100"
    LS_10 = "LS_10"

    @property
    def kind(self) -> DeviceKind:
        return DeviceKind.SWITCH if self is DeviceFamily.LS_10 else DeviceKind.GPU

    @property
    def architecture(self) -> str:
        """The architecture envelopes name (NVIDIA SDK ``arch``)."""
        return _ARCHITECTURES[self]

    @property
    def fwid_layout(self) -> FwidLayout:
        return FwidLayout.BLACKWELL if self is DeviceFamily.GB100 else FwidLayout.HOPPER


_ARCHITECTURES = {
    DeviceFamily.GH100: "HOPPER",
    DeviceFamily.GB100: "BLACKWELL",
    DeviceFamily.LS_10: "LS10",
}
ARCHITECTURES = frozenset(_ARCHITECTURES.values())

_LEAF_CN = re.compile(r"(GH100|GB100|LS_10) A[0-9]{2} (GSP|FSP) FMC LF")


def leaf_family(leaf: Certificate) -> DeviceFamily:
    """The family a device leaf certificate names; ChainError for anything else."""
    name = leaf.subject.common_name or ""
    match = _LEAF_CN.fullmatch(name)
    if match is None:
        raise ChainError(
            f"the leaf certificate '{leaf.display_name}' is not an NVIDIA device attestation "
            "certificate (expected a CN like 'GH100 A01 GSP FMC LF')",
            component="device chain",
            hint="the evidence's first certificate must be the device's FMC leaf certificate",
        )
    return DeviceFamily(match.group(1))


def family_of_architecture(arch: str) -> DeviceFamily | None:
    """The family an envelope's architecture name stands for (None if unknown)."""
    for family, name in _ARCHITECTURES.items():
        if name == arch.upper():
            return family
    return None
