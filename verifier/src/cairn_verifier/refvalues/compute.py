"""``cairn reference-values --tdx`` and ``--uki``: read the inputs, compute, describe.

TDX (direct boot, the flake's ``cvm-tdx``): MRTD from the TDVF image for each page-add order,
RTMR[0] from the TDVF image, the memory size and QEMU's ACPI data (:mod:`.tdx_rtmr0`; only when
the ACPI data or its digests are given), RTMR[1] from the kernel (QEMU-patched for the VM's
memory and the initrd's size), RTMR[2] from the command line and the initrd. vTPM (a UKI-booted
image, the cloud profiles): PCR 11 as systemd-measure computes it, PCR 4 and PCR 9 as
:mod:`.uki` states. Both produce a policy file
(:mod:`.policy_file`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..errors import MalformedInputError, UsageError
from ..input_files import read_bounded, require_regular_file
from . import tdvf, tdx_boot, tdx_rtmr0, uki
from .policy_file import PolicyFile, comment_text

if TYPE_CHECKING:
    from ..eventlog import EventLog

MAX_IMAGE_BYTES: Final = 1024 * 1024 * 1024
PHASES: Final = ("none", *uki.BOOT_PHASES)
PCR_BANKS: Final = ("sha1", "sha256", "sha384", "sha512")


def _read(path: Path, what: str, limit: int) -> bytes:
    require_regular_file(path, what, limit=limit, component="reference values")
    return read_bounded(path, limit)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Computed:
    """A computed policy file and its summary (for ``--json`` and the text output)."""

    policy: PolicyFile
    summary: dict[str, Any]


def compute_tdx(
    firmware: Path,
    kernel: Path,
    initrd: Path | None,
    cmdline: str,
    *,
    memory: int,
    acpi_data_size: int = tdx_boot.QEMU_ACPI_DATA_SIZE,
    orders: Sequence[tdvf.PageAddOrder] = ("two-pass", "single-pass"),
    rtmr0: bytes | None = None,
    acpi_digests: Sequence[bytes] | None = None,
    known_good_log: EventLog | None = None,
) -> Computed:
    """The ``[tdx]`` policy of a direct-boot TD (see the module docstring).

    RTMR[0] is computed when ``acpi_digests`` (SHA-384 of QEMU's ``etc/table-loader``,
    ``etc/acpi/rsdp``, ``etc/acpi/tables``) are given, taken as is from ``rtmr0``, or left
    unpinned; giving both is refused. With ``known_good_log`` (a TD of this configuration) every
    computed RTMR[0] event must equal the log's (:class:`.tdx_rtmr0.Rtmr0MismatchError`)."""
    if rtmr0 is not None and acpi_digests is not None:
        raise UsageError(
            "RTMR[0] is either given (--rtmr0) or computed (--acpi-tables, --acpi-digests), "
            "not both",
            component="command line",
            hint="drop --rtmr0 to compute it, or the ACPI inputs to pin the value you read",
        )
    fw = _read(firmware, "TDVF firmware", tdvf.MAX_FIRMWARE_BYTES)
    kernel_bytes = _read(kernel, "kernel", MAX_IMAGE_BYTES)
    initrd_bytes = None if initrd is None else _read(initrd, "initrd", MAX_IMAGE_BYTES)
    if memory <= 0:
        raise MalformedInputError("the memory size must be positive", component="reference values")
    mrtds = {order: tdvf.compute_mrtd(fw, order).hex() for order in dict.fromkeys(orders)}
    rtmr0_events = None
    if acpi_digests is not None:
        sections = tdvf.parse_tdvf(fw)
        rtmr0_events = tdx_rtmr0.rtmr0_events(
            tdx_rtmr0.td_hob(sections, memory), tdx_rtmr0.cfv_image(fw, sections), acpi_digests
        )
        if known_good_log is not None:
            tdx_rtmr0.check_against_log(rtmr0_events, known_good_log)
        rtmr0 = tdx_boot.extend_chain(event.digest for event in rtmr0_events)
    initrd_size = 0 if initrd_bytes is None else len(initrd_bytes)
    kernel_digest = tdx_boot.kernel_authenticode(kernel_bytes, initrd_size, memory, acpi_data_size)
    rtmr1 = tdx_boot.extend_chain(tdx_boot.rtmr1_events(kernel_digest))
    options = tdx_boot.load_options(cmdline, initrd_bytes is not None)
    initrd_digest = None if initrd_bytes is None else hashlib.sha384(initrd_bytes).digest()
    rtmr2 = tdx_boot.extend_chain(
        tdx_boot.rtmr2_events(hashlib.sha384(options).digest(), initrd_digest)
    )
    values: dict[str, str | list[str]] = {"mr_td": list(mrtds.values())}
    if rtmr0 is not None:
        values["rtmr0"] = rtmr0.hex()
    values["rtmr1"] = rtmr1.hex()
    values["rtmr2"] = rtmr2.hex()
    comments = [
        "TDX reference values: `cairn reference-values --tdx` (direct boot: QEMU -kernel/-initrd/"
        "-append with a TDVF)",
        f"firmware sha256 {_sha256(fw)}",
        f"kernel sha256 {_sha256(kernel_bytes)}",
        f"initrd sha256 {_sha256(initrd_bytes) if initrd_bytes is not None else '(none)'}",
        f"command line {comment_text(cmdline)}",
        f"memory {memory} bytes, QEMU ACPI data size 0x{acpi_data_size:x}",
        "",
        "mr_td: one value per page-add order (" + ", ".join(mrtds) + "); the host's VMM uses one",
        *_rtmr0_comments(rtmr0_events, known_good_log is not None, rtmr0 is not None),
        "rtmr3 is not pinned: the guest extends it at run time.",
    ]
    summary = {
        "kind": "tdx",
        "mr_td": mrtds,
        "rtmr0": None if rtmr0 is None else rtmr0.hex(),
        "rtmr0_source": _rtmr0_source(rtmr0_events is not None, known_good_log is not None, rtmr0),
        "rtmr0_events": None
        if rtmr0_events is None
        else [{"event": e.name, "digest": e.digest.hex()} for e in rtmr0_events],
        "rtmr1": rtmr1.hex(),
        "rtmr2": rtmr2.hex(),
        "kernel_authenticode_sha384": kernel_digest.hex(),
        "inputs": {
            "firmware": _sha256(fw),
            "kernel": _sha256(kernel_bytes),
            "initrd": _sha256(initrd_bytes) if initrd_bytes is not None else None,
            "cmdline": cmdline,
            "memory": memory,
            "acpi_data_size": acpi_data_size,
        },
    }
    return Computed(PolicyFile("tdx", values, comments), summary)


def _rtmr0_source(computed: bool, checked: bool, rtmr0: bytes | None) -> str | None:
    if computed:
        return "computed, every event equal to the event log's" if checked else "computed"
    return "given" if rtmr0 is not None else None


def _rtmr0_comments(
    events: list[tdx_rtmr0.Rtmr0Event] | None, checked: bool, given: bool
) -> list[str]:
    if events is not None:
        acpi = [f"  {e.name} sha384 {e.digest.hex()}" for e in events if e.name.startswith("acpi")]
        return [
            "rtmr0 is computed for OVMF before edk2-stable202505 (direct boot, Secure Boot not",
            "enrolled): the TD HOB for this memory size, the firmware's CFV, the Secure Boot",
            "variables, the separator, QEMU's three ACPI blobs, BootOrder and Boot0000 (UiApp);",
            *acpi,
            "every event equals the known-good event log's."
            if checked
            else "compare its events (--json) with one real boot's event log before relying on it.",
        ]
    return [
        "rtmr0 is "
        + ("given, not computed" if given else "NOT pinned")
        + ": the TD HOB and the ACPI tables QEMU generates are measured there; compute it",
        "with --acpi-tables DIR or pin it from a known-good quote (`cairn show tdx QUOTE`).",
    ]


def compute_uki(
    path: Path,
    *,
    bank: str = "sha256",
    phase: str = "ready",
    kernel_via_loadimage: bool = True,
) -> Computed:
    """The ``[evidence.pcrs.BANK]`` policy of booting the UKI at ``path`` (PCR 4, 9, 11)."""
    if bank not in PCR_BANKS or phase not in PHASES:
        raise MalformedInputError(f"unknown bank {bank!r} or phase {phase!r}")
    image = uki.parse_uki(_read(path, "UKI", MAX_IMAGE_BYTES))
    phases = () if phase == "none" else uki.BOOT_PHASES[: uki.BOOT_PHASES.index(phase) + 1]
    pcr11 = (
        uki.pcr11_phases(image.sections, bank, phases)[-1][1]
        if phases
        else uki.pcr11_sections(image.sections, bank)
    )
    pcr4 = uki.uki_pcr4(image, bank, kernel_via_loadimage=kernel_via_loadimage)
    pcr9 = uki.uki_pcr9(image, bank)
    values: dict[str, str] = {"4": pcr4.hex()}
    notes = {
        "4": "firmware: 'Calling EFI Application', separator, the UKI"
        + (" and its kernel (LoadImage)" if kernel_via_loadimage else "")
        + " — check against one real boot's event log",
    }
    if pcr9 is not None:
        values["9"] = pcr9.hex()
        notes["9"] = "Linux EFI stub: the load options, then the initrd (no credentials/add-ons)"
    values["11"] = pcr11.hex()
    measured = ", ".join(name for name in uki.MEASURED_SECTIONS if name in image.sections)
    notes["11"] = f"systemd-stub sections {measured}" + (
        f", then the boot phases up to {phase}" if phases else ""
    )
    comments = [
        "vTPM reference values: `cairn reference-values --uki` (systemd-stub UKI, booted as the",
        "only boot application)",
        f"UKI sha256 {_sha256(image.image.data)}",
        f"command line {comment_text(image.cmdline or '(none in the UKI)')}",
        "PCR 11 is what systemd-measure computes; PCR 4 and 9 depend on the firmware and the",
        "kernel (docs/reference-values.md). The TPM quote must select them (agent tpm.pcrs).",
    ]
    summary = {
        "kind": "vtpm",
        "bank": bank,
        "pcrs": values,
        "phase": phase,
        "sections": sorted(image.sections),
        "uki": _sha256(image.image.data),
        "cmdline": image.cmdline,
    }
    return Computed(PolicyFile(f"evidence.pcrs.{bank}", values, comments, notes), summary)
