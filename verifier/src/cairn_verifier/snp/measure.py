"""Compute SEV-SNP reference values (expected launch measurements) with sev-snp-measure.

The launch measurement of an SEV-SNP guest depends on the firmware (OVMF), on the kernel,
initrd and command line when QEMU boots the kernel directly (their SHA-256 hashes are placed
in the firmware's SNP_KERNEL_HASHES page), on the number of vCPUs and their CPU signature
(one VMSA page each), on the guest's SEV features and on the hypervisor flavour.

`sev-snp-measure <https://github.com/virtee/sev-snp-measure>`_ is an optional dependency of
the verifier: it is imported only when a measurement is computed, and its absence is reported
with an install hint.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast, get_args

from ..errors import MalformedInputError, SetupError
from ..input_files import require_regular_file
from .reference_values import MeasuredInputs, ReferenceValues, VmmType

TOOL = "sev-snp-measure"
TESTED_VERSION = "0.0.13"
INSTALL_HINT = (
    f"install it with `pip install {TOOL}=={TESTED_VERSION}`, or build the reference values "
    "with `nix build .#reference-values`"
)
PAGE = 4096
MAX_FIRMWARE_BYTES = 64 * 1024 * 1024
"""Largest OVMF image measured (sev-snp-measure reads it whole; OVMF.fd is a few MiB)."""
MAX_KERNEL_BYTES = 1024 * 1024 * 1024
"""Largest kernel or initrd measured (sev-snp-measure reads it whole)."""
GUEST_FEATURES_SNP_ONLY = 0x1
VMM_TYPES: tuple[str, ...] = get_args(VmmType)


@dataclass(frozen=True)
class _Tool:
    """The parts of sev-snp-measure used here (the package ships no type information)."""

    guest: Any
    vmm_types: Any
    cpu_signatures: Mapping[str, int]
    version: str

    @property
    def generator(self) -> str:
        return f"{TOOL} {self.version}"


def _load_tool() -> _Tool:
    try:
        guest = importlib.import_module("sevsnpmeasure.guest")
        vcpu_types = importlib.import_module("sevsnpmeasure.vcpu_types")
        vmm_types = importlib.import_module("sevsnpmeasure.vmm_types")
    except ImportError as exc:
        raise SetupError(
            f"computing reference values needs the Python package {TOOL}, which is not installed",
            component=TOOL,
            hint=INSTALL_HINT,
        ) from exc
    try:
        version = importlib.metadata.version(TOOL)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return _Tool(guest, vmm_types.VMMType, dict(vcpu_types.CPU_SIGS), version)


def known_vcpu_types() -> tuple[str, ...]:
    """QEMU CPU models whose signature sev-snp-measure knows (e.g. ``EPYC-v4``, ``EPYC-Milan``)."""
    return tuple(_load_tool().cpu_signatures)


@dataclass(frozen=True)
class _Boot:
    """Validated inputs shared by every (vCPU type, vCPU count) combination."""

    ovmf: Path
    ovmf_sha256: bytes
    kernel: Path | None
    kernel_sha256: bytes | None
    initrd: Path | None
    initrd_sha256: bytes | None
    cmdline: str | None


def _sha256_of(path: Path, what: str, limit: int) -> bytes:
    """SHA-256 of a regular file (an empty file is allowed: it hashes like QEMU's /dev/null).

    sev-snp-measure reads the file again by name, so it must be a regular file (a pipe or a
    device such as /dev/zero cannot be measured) no larger than ``limit``; /dev/null is
    accepted as the empty file it reads as.
    """
    if os.path.realpath(path) == os.devnull:
        return hashlib.sha256(b"").digest()
    require_regular_file(path, what, limit=limit, component=TOOL)
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").digest()
    except OSError as exc:
        raise MalformedInputError(
            f"cannot read {what} {path}: {exc.strerror}", component=TOOL
        ) from exc


def _boot(ovmf: Path, kernel: Path | None, initrd: Path | None, cmdline: str | None) -> _Boot:
    if kernel is None and (initrd is not None or cmdline is not None):
        raise MalformedInputError(
            "an initrd or kernel command line needs a kernel (direct boot)",
            component=TOOL,
            hint="pass --kernel too, or drop --initrd/--append to measure a firmware-only boot",
        )
    ovmf_sha256 = _sha256_of(ovmf, "OVMF", MAX_FIRMWARE_BYTES)
    size = ovmf.stat().st_size
    if size == 0 or size % PAGE:
        raise MalformedInputError(
            f"OVMF {ovmf} is {size} bytes, not a whole number of 4 KiB pages",
            component=TOOL,
            hint="pass the OVMF firmware image (OVMF.fd) that QEMU loads with -bios",
        )
    return _Boot(
        ovmf=ovmf,
        ovmf_sha256=ovmf_sha256,
        kernel=kernel,
        kernel_sha256=None if kernel is None else _sha256_of(kernel, "kernel", MAX_KERNEL_BYTES),
        initrd=initrd,
        initrd_sha256=None if initrd is None else _sha256_of(initrd, "initrd", MAX_KERNEL_BYTES),
        cmdline=cmdline,
    )


def _measurement_error(ovmf: Path, exc: Exception) -> MalformedInputError:
    message = str(exc)
    if not message:  # sev-snp-measure asserts page sizes and alignment without a message
        message = "the firmware's SEV metadata is inconsistent (a section size or alignment)"
    if "SNP_KERNEL_HASHES" in message or "SEV_HASH_TABLE" in message:
        hint = (
            "measuring a direct-booted kernel needs an OVMF built from OvmfPkg/AmdSev "
            "(AmdSevX64.dsc), which reserves a page for the kernel hashes; drop --kernel to "
            "measure a firmware-only boot"
        )
    else:
        hint = "pass an OVMF image built for SEV-SNP (OvmfPkg/AmdSev or OvmfPkgX64)"
    return MalformedInputError(
        f"cannot measure with OVMF {ovmf}: {message}", component=TOOL, hint=hint
    )


def ovmf_launch_digest(ovmf: Path) -> bytes:
    """The SNP launch digest after the firmware pages alone (``sev-snp-measure --mode
    snp:ovmf-hash``): the starting point of every measurement with this firmware."""
    return _ovmf_digest(_load_tool(), _boot(ovmf, None, None, None))


def _ovmf_digest(tool: _Tool, boot: _Boot) -> bytes:
    try:
        digest: bytes = tool.guest.calc_snp_ovmf_hash(str(boot.ovmf))
    except (RuntimeError, ValueError, KeyError, IndexError, AssertionError) as exc:
        raise _measurement_error(boot.ovmf, exc) from exc
    return digest


def _positive_counts(vcpus: Iterable[int]) -> tuple[int, ...]:
    counts = tuple(dict.fromkeys(vcpus))
    if not counts:
        raise MalformedInputError("no vCPU count given", component=TOOL, hint="e.g. --vcpus 1,2,4")
    for count in counts:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise MalformedInputError(
                f"vCPU count {count!r} is not a positive integer", component=TOOL
            )
    return counts


def _vmm(tool: _Tool, vmm_type: str) -> tuple[VmmType, Any]:
    for name in VMM_TYPES:
        if name.lower() == vmm_type.strip().lower():
            return cast(VmmType, name), tool.vmm_types[name]
    raise MalformedInputError(
        f"unknown VMM type {vmm_type!r}",
        component=TOOL,
        hint=f"use one of {', '.join(VMM_TYPES)}",
    )


def _cpu_signatures(
    tool: _Tool, vcpu_types: Iterable[str], vmm_name: str
) -> list[tuple[str | None, int]]:
    """(name, CPUID signature) per requested vCPU type; ``[(None, 0)]`` where the VMM ignores it."""
    by_lower = {name.lower(): name for name in tool.cpu_signatures}
    chosen: list[tuple[str | None, int]] = []
    for requested in dict.fromkeys(vcpu_types):
        name = by_lower.get(requested.strip().lower())
        if name is None:
            raise MalformedInputError(
                f"unknown vCPU type {requested!r}",
                component=TOOL,
                hint="use a QEMU CPU model sev-snp-measure knows: "
                + ", ".join(tool.cpu_signatures),
            )
        chosen.append((name, tool.cpu_signatures[name]))
    if chosen:
        return chosen
    if vmm_name == "QEMU":
        raise MalformedInputError(
            "no vCPU type given: the QEMU vCPU state includes the CPU signature",
            component=TOOL,
            hint="pass the -cpu model QEMU runs the guest with, e.g. --vcpu-type EPYC-v4",
        )
    # EC2 and GCE start every vCPU with a fixed signature (RDX = 0x600): the type does not matter.
    return [(None, 0)]


def compute_reference_values(
    ovmf: Path,
    kernel: Path | None,
    initrd: Path | None,
    cmdline: str | None,
    *,
    vcpus: Iterable[int],
    vcpu_types: Iterable[str],
    guest_features: int = GUEST_FEATURES_SNP_ONLY,
    vmm_type: str = "QEMU",
) -> ReferenceValues:
    """The SEV-SNP launch measurement of every (vCPU type, vCPU count) combination.

    ``kernel`` None means no direct boot (``initrd`` and ``cmdline`` must then be None too);
    with a kernel, a missing initrd or command line is measured as QEMU does (empty). For the
    ``ec2`` and ``gce`` VMM types ``vcpu_types`` may be empty: those VMMs fix the CPU signature.
    Raises :class:`MalformedInputError` for unreadable or unsuitable inputs and
    :class:`SetupError` when sev-snp-measure is not installed.
    """
    tool = _load_tool()
    counts = _positive_counts(vcpus)
    vmm_name, vmm = _vmm(tool, vmm_type)
    signatures = _cpu_signatures(tool, vcpu_types, vmm_name)
    if isinstance(guest_features, bool) or not 0 <= guest_features < 1 << 64:
        raise MalformedInputError(
            f"guest features {guest_features!r} are not a 64-bit value", component=TOOL
        )
    boot = _boot(ovmf, kernel, initrd, cmdline)
    ovmf_digest = _ovmf_digest(tool, boot)
    entries = []
    for vcpu_type, signature in signatures:
        for count in counts:
            try:
                digest: bytes = tool.guest.snp_calc_launch_digest(
                    count,
                    signature,
                    str(boot.ovmf),
                    None if boot.kernel is None else str(boot.kernel),
                    None if boot.initrd is None else str(boot.initrd),
                    boot.cmdline,
                    guest_features,
                    ovmf_digest.hex(),
                    vmm,
                )
            except (RuntimeError, ValueError, KeyError, IndexError, AssertionError) as exc:
                raise _measurement_error(ovmf, exc) from exc
            except OSError as exc:
                raise MalformedInputError(f"cannot read the inputs: {exc}", component=TOOL) from exc
            entries.append(
                MeasuredInputs(
                    ovmf=boot.ovmf_sha256,
                    kernel=boot.kernel_sha256,
                    initrd=boot.initrd_sha256,
                    cmdline=boot.cmdline,
                    vcpus=count,
                    vcpu_type=vcpu_type,
                    guest_features=guest_features,
                    vmm_type=vmm_name,
                    measurement=digest,
                )
            )
    return ReferenceValues.from_inputs(entries, generator=tool.generator)
