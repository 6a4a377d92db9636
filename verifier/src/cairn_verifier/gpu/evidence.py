"""One device's evidence as it was handed over: report bytes, certificates, envelope claims.

Everything here is unauthenticated until the pipeline (:mod:`.verify`) checks it: the report's
signature covers the report only; the certificates are trusted only through the pinned root;
what an envelope says beside them (architecture, nonce, versions, UUID, CC mode) is shown and
cross-checked, never relied on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

MAX_DEVICES: Final = 64
"""Devices in one piece of evidence (an HGX node has 8 GPUs and 4 NVSwitches)."""


@dataclass(frozen=True)
class DeviceEvidence:
    """One GPU's or NVSwitch's attestation report and certificate chain (DER, leaf first)."""

    report: bytes
    certificates: tuple[bytes, ...]
    label: str
    """How the input names this device (``entry 3``, ``gpus[2]``, ``the report``)."""
    architecture: str | None = None
    """The envelope's ``arch`` (HOPPER, BLACKWELL, LS10): unsigned."""
    declared_nonce: bytes | None = None
    """The nonce the envelope says it used: unsigned (the signed one is in the report)."""
    uuid: str | None = None
    envelope: dict[str, str] = field(default_factory=dict)
    """Other envelope members shown as they are (driver/VBIOS versions, CC mode): unsigned."""
