"""Describe what an event log says was measured: firmware, Secure Boot, boot loader, kernel,
initrd, command line, UKI sections.

What an event *says* (its data) is the firmware's or boot loader's word; only its digest went
into the register. An item is marked ``verified`` when its register's replay matched a value a
verified quote covers (:meth:`.replay.Comparison.verified_events`); then the digest is proven,
and the description is as trustworthy as the code that wrote the event (e.g. GRUB logs the
command it ran next to the digest of that command).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from . import uefi
from .events import Event, EventLog, EventType

INITRD_TAG: Final = 0x8F3B22EC
"""Linux EFI stub: the initrd it loaded (LINUX_EFI_INITRD_MEDIA), measured into PCR 9."""
LOAD_OPTIONS_TAG: Final = 0x8F3B22ED
"""Linux EFI stub: the load options (kernel command line), measured into PCR 9."""
MAX_DETAIL: Final = 400

_FIRMWARE = {
    EventType.EV_S_CRTM_VERSION,
    EventType.EV_S_CRTM_CONTENTS,
    EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB,
    EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB2,
    EventType.EV_POST_CODE,
    EventType.EV_POST_CODE2,
    EventType.EV_CPU_MICROCODE,
    EventType.EV_EFI_HCRTM_EVENT,
    EventType.EV_EFI_SPDM_FIRMWARE_BLOB,
}
_CONFIGURATION = {
    EventType.EV_PLATFORM_CONFIG_FLAGS,
    EventType.EV_EFI_HANDOFF_TABLES,
    EventType.EV_EFI_HANDOFF_TABLES2,
    EventType.EV_TABLE_OF_DEVICES,
    EventType.EV_NONHOST_CODE,
    EventType.EV_NONHOST_CONFIG,
    EventType.EV_NONHOST_INFO,
    EventType.EV_EFI_SPDM_FIRMWARE_CONFIG,
}
_KERNEL_NAMES = ("vmlinuz", "bzimage", "/linux", "kernel")
_INITRD_NAMES = ("initrd", "initramfs")


@dataclass(frozen=True)
class Measured:
    """One event, described: its kind (``boot application``, ``kernel command line``, …)."""

    event: int
    register: str
    event_type: str
    kind: str
    detail: str
    verified: bool | None
    """True: its register replayed to a covered value; False: it did not or is not covered;
    None: nothing was compared."""

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "register": self.register,
            "type": self.event_type,
            "kind": self.kind,
            "detail": self.detail,
            "verified": self.verified,
        }


@dataclass(frozen=True)
class BootDescription:
    """Every event described, and the boot chain they add up to."""

    items: tuple[Measured, ...]

    def _details(self, *kinds: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.detail for i in self.items if i.kind in kinds))

    @property
    def boot_applications(self) -> tuple[str, ...]:
        return self._details("boot application")

    @property
    def kernels(self) -> tuple[str, ...]:
        return self._details("kernel")

    @property
    def initrds(self) -> tuple[str, ...]:
        return self._details("initrd")

    @property
    def command_lines(self) -> tuple[str, ...]:
        return self._details("kernel command line")

    @property
    def uki_sections(self) -> tuple[str, ...]:
        return self._details("UKI section")

    @property
    def secure_boot(self) -> bool | None:
        for item in self.items:
            if item.kind == "Secure Boot variable" and item.detail.startswith("SecureBoot ="):
                return item.detail.endswith("enabled")
        return None

    def summary(self) -> dict[str, Any]:
        return {
            "secure_boot": self.secure_boot,
            "boot_applications": list(self.boot_applications),
            "kernels": list(self.kernels),
            "initrds": list(self.initrds),
            "command_lines": list(self.command_lines),
            "uki_sections": list(self.uki_sections),
        }

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "events": [i.to_json() for i in self.items]}


def _said(event: Event) -> str:
    """The event's own words: its label, its data as text, or its size."""
    if event.label:
        return event.label
    if not event.data:
        return "(data not in the log)"
    return uefi.text(event.data) or f"{len(event.data)} bytes"


def _short(text: str) -> str:
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def _path_kind(path: str, default: str) -> str:
    lowered = path.lower()
    if any(name in lowered for name in _INITRD_NAMES):
        return "initrd"
    if any(name in lowered for name in _KERNEL_NAMES):
        return "kernel"
    return default


def _variable(event: Event, kind: str) -> tuple[str, str]:
    var = uefi.variable(event.data)
    if var is None:
        return kind, _said(event) if not event.data else "(undecoded variable)"
    if var.name == "SecureBoot" and kind == "Secure Boot variable":
        state = "enabled" if var.value[:1] == b"\x01" else "disabled"
        return kind, f"SecureBoot = {state}"
    return kind, f"{var.name} ({len(var.value)} bytes)"


def _ipl(event: Event, kind: str) -> tuple[str, str]:
    said = uefi.text(event.data)
    if said is None:
        return "boot loader event", f"{len(event.data)} bytes"
    if said.startswith("grub_cmd: "):
        return "boot loader command", said.removeprefix("grub_cmd: ")
    if said.startswith("kernel_cmdline: "):
        return "kernel command line", said.removeprefix("kernel_cmdline: ")
    if kind == "pcr" and event.register == 11:
        return "UKI section", said
    if kind == "pcr" and event.register == 12:
        return "kernel command line", said
    if kind == "pcr" and event.register == 9:
        return _path_kind(said, "file read by the boot loader"), said
    return "boot loader event", said


def _tagged(event: Event) -> tuple[str, str]:
    tagged = uefi.tagged_event(event.data)
    if tagged is None:
        what = event.label or "payload not in the log"
        return "tagged event", what
    tag, payload = tagged
    if tag == INITRD_TAG:
        return "initrd", uefi.text(payload) or "loaded by the Linux EFI stub"
    if tag == LOAD_OPTIONS_TAG:
        return "kernel command line", uefi.utf16z(payload) or uefi.text(payload) or ""
    return "tagged event", f"tag 0x{tag:08x}"


def _classify(event: Event, kind: str) -> tuple[str, str]:
    kind_of: str
    try:
        event_type = EventType(event.event_type)
    except ValueError:
        return "other", _said(event)
    if event_type in _FIRMWARE:
        return "firmware", _said(event)
    if event_type in _CONFIGURATION:
        return "firmware configuration", _said(event)
    if event_type in (EventType.EV_EFI_VARIABLE_DRIVER_CONFIG, EventType.EV_EFI_VARIABLE_AUTHORITY):
        return _variable(event, "Secure Boot variable")
    if event_type in (EventType.EV_EFI_VARIABLE_BOOT, EventType.EV_EFI_VARIABLE_BOOT2):
        return _variable(event, "boot variable")
    if event_type == EventType.EV_EFI_BOOT_SERVICES_APPLICATION:
        path = uefi.image_load_path(event.data)
        if path is None:
            kind_of = "kernel" if kind == "rtmr" else "boot application"
            return kind_of, event.label or "(image without a file path: loaded from memory)"
        return _path_kind(path, "boot application"), path
    if event_type in (
        EventType.EV_EFI_BOOT_SERVICES_DRIVER,
        EventType.EV_EFI_RUNTIME_SERVICES_DRIVER,
    ):
        return "driver", uefi.image_load_path(event.data) or "(option ROM or driver)"
    if event_type in (EventType.EV_EFI_GPT_EVENT, EventType.EV_EFI_GPT_EVENT2):
        return "partition table", "GPT"
    if event_type in (EventType.EV_EFI_ACTION, EventType.EV_ACTION):
        return "action", uefi.ascii_text(event.data) or event.label or ""
    if event_type == EventType.EV_SEPARATOR:
        return "separator", "end of pre-boot measurements" if kind == "pcr" else "separator"
    if event_type == EventType.EV_NO_ACTION:
        said = uefi.ascii_text(event.data.split(b"\x00", 1)[0])
        return "no action", said or ""
    if event_type == EventType.EV_IPL:
        return _ipl(event, kind)
    if event_type == EventType.EV_EVENT_TAG:
        return _tagged(event)
    return "other", _said(event)


def describe(log: EventLog, verified: Iterable[int] | None = None) -> BootDescription:
    """Describe every event of ``log``; ``verified`` = the event numbers a comparison proved."""
    proven = None if verified is None else frozenset(verified)
    items = []
    for event in log.events:
        kind, detail = _classify(event, log.register_kind)
        items.append(
            Measured(
                event=event.number,
                register=log.register_name(event.register) if event.extends else "-",
                event_type=event.type_name,
                kind=kind,
                detail=_short(detail),
                verified=None if proven is None else event.number in proven,
            )
        )
    return BootDescription(tuple(items))
