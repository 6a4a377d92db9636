"""``cairn reference-values``: compute what an image will measure.

* SEV-SNP (default): runs sev-snp-measure over the firmware (and, for direct boot, kernel,
  initrd and command line) for every requested vCPU count and CPU type, and writes a
  reference-values file that ``cairn verify snp --reference-values FILE`` accepts.
* ``--tdx``: MRTD, RTMR[1] and RTMR[2] of a direct-boot TD (and RTMR[0] given QEMU's ACPI
  data), written as a ``[tdx]`` policy.
* ``--uki FILE``: vTPM PCRs 4, 9 and 11 of booting a unified kernel image, written as an
  ``[evidence.pcrs.BANK]`` policy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, cast

from ..errors import UsageError
from ..output_files import write_output_file
from ..snp.measure import GUEST_FEATURES_SNP_ONLY, VMM_TYPES, compute_reference_values
from ..snp.reference_values import ReferenceValues, write_reference_values
from .commands import register_module
from .common import Output, add_json_option, parse_hex_option

STDOUT = "-"


def vcpu_counts(text: str) -> list[int]:
    """argparse type for ``--vcpus 1,2,4``."""
    counts = []
    for part in text.split(","):
        item = part.strip()
        if not item.isdigit() or int(item) < 1:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a comma-separated list of positive vCPU counts (e.g. 1,2,4)"
            )
        counts.append(int(item))
    return counts


def vcpu_type_names(text: str) -> list[str]:
    """argparse type for ``--vcpu-type EPYC-v4[,EPYC-Milan]`` (also repeatable)."""
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty vCPU type name")
    return names


def guest_features_value(text: str) -> int:
    """argparse type for ``--guest-features 0x1``."""
    try:
        value = int(text, 0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (write it like 0x1)") from exc
    if not 0 <= value < 1 << 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a 64-bit value")
    return value


def memory_size(text: str) -> int:
    """argparse type for ``--memory 4G`` (bytes, or a K/M/G/T suffix of powers of 1024)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    number, unit = text.strip().upper().rstrip("IB"), ""
    if number and number[-1] in units:
        number, unit = number[:-1], number[-1]
    if not number.isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a memory size (e.g. 4G or 2048M)")
    return int(number) * units[unit]


def register(commands: Any) -> None:
    """Add ``reference-values`` to a subparsers action (``cairn`` itself loads it lazily)."""
    register_module(commands, "reference_cmd")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Compute what an image will measure. SEV-SNP (default): the launch "
        "measurement for every vCPU count and CPU type given, with sev-snp-measure, as a "
        "reference-values file for `cairn verify snp --reference-values`. --tdx: MRTD, RTMR[1] "
        "and RTMR[2] of a direct-boot TD (RTMR[0] too with --acpi-tables or --acpi-digests) as "
        "a [tdx] policy. --uki FILE: vTPM PCRs 4, 9 and 11 "
        "of booting a unified kernel image as an [evidence.pcrs.BANK] policy."
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--tdx",
        action="store_true",
        help="compute TDX reference values (needs --firmware, --kernel, --memory)",
    )
    mode.add_argument(
        "--uki", type=Path, metavar="FILE", help="compute the vTPM PCRs of booting this UKI"
    )
    parser.add_argument("--ovmf", type=Path, metavar="FILE", help="OVMF firmware image (SEV-SNP)")
    parser.add_argument(
        "--firmware", type=Path, metavar="FILE", help="TDVF (TDX OVMF) firmware image (--tdx)"
    )
    parser.add_argument(
        "--memory",
        type=memory_size,
        metavar="SIZE",
        help="the TD's memory, e.g. 4G (--tdx: QEMU places the initrd by it)",
    )
    parser.add_argument(
        "--acpi-data-size",
        type=lambda text: int(text, 0),
        default=0x28000,
        metavar="N",
        help="QEMU's ACPI data size (--tdx; default 0x28000, the q35/pc machine types)",
    )
    parser.add_argument(
        "--page-add-order",
        choices=("both", "two-pass", "single-pass"),
        default="both",
        help="how the VMM adds the firmware's pages (--tdx; default both: MRTD accepts either)",
    )
    rtmr0 = parser.add_mutually_exclusive_group()
    rtmr0.add_argument(
        "--rtmr0",
        metavar="HEX",
        help="RTMR[0] read from a known-good quote of this VM configuration (--tdx; pinned as "
        "given instead of computed)",
    )
    rtmr0.add_argument(
        "--acpi-tables",
        type=Path,
        metavar="DIR",
        help="compute RTMR[0] (--tdx) from QEMU's fw_cfg ACPI files captured from a guest of "
        "this VM configuration: DIR/table-loader, DIR/rsdp, DIR/tables",
    )
    rtmr0.add_argument(
        "--acpi-digests",
        metavar="HEX,HEX,HEX",
        help="compute RTMR[0] (--tdx) from the SHA-384 of those three files (the 'ACPI DATA' "
        "RTMR[0] events of a known-good event log, in log order)",
    )
    rtmr0.add_argument(
        "--acpi-event-log",
        type=Path,
        metavar="FILE",
        help="compute RTMR[0] (--tdx) with the ACPI digests of this known-good TD event log "
        "(CCEL or dstack's JSON) of the same VM configuration, and refuse (exit 1) if any "
        "other computed RTMR[0] event differs from the log's",
    )
    parser.add_argument(
        "--bank",
        choices=("sha1", "sha256", "sha384", "sha512"),
        default="sha256",
        help="PCR bank (--uki; default sha256)",
    )
    parser.add_argument(
        "--phase",
        choices=("none", "enter-initrd", "leave-initrd", "sysinit", "ready"),
        default="ready",
        help="the systemd boot phase PCR 11 is predicted after (--uki; default ready: booted)",
    )
    parser.add_argument(
        "--no-kernel-loadimage",
        action="store_true",
        help="the stub runs the kernel without the firmware's LoadImage (--uki; systemd < 255)",
    )
    parser.add_argument(
        "--kernel", type=Path, metavar="FILE", help="kernel QEMU boots directly (-kernel)"
    )
    parser.add_argument("--initrd", type=Path, metavar="FILE", help="initrd (-initrd)")
    parser.add_argument("--append", metavar="CMDLINE", help="kernel command line (-append)")
    parser.add_argument(
        "--vcpus",
        type=vcpu_counts,
        metavar="N[,N...]",
        help="vCPU counts to measure, e.g. 1,2,4 (SEV-SNP)",
    )
    parser.add_argument(
        "--vcpu-type",
        type=vcpu_type_names,
        action="append",
        default=[],
        metavar="MODEL",
        help="QEMU -cpu model, e.g. EPYC-v4 or EPYC-Milan (repeatable, or comma-separated; "
        "optional for --vmm-type ec2/gce)",
    )
    parser.add_argument(
        "--guest-features",
        type=guest_features_value,
        default=GUEST_FEATURES_SNP_ONLY,
        metavar="HEX",
        help="SEV features of the guest's VMSAs (default 0x1: SNP only)",
    )
    parser.add_argument(
        "--vmm-type",
        choices=VMM_TYPES,
        default="QEMU",
        help="hypervisor flavour (default QEMU)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="FILE",
        help="reference-values (or policy) file to write ('-' = standard output)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing file")
    add_json_option(parser)
    parser.set_defaults(func=reference_values_command)


def _summary(values: ReferenceValues, output: Path) -> tuple[dict[str, Any], str]:
    doc: dict[str, Any] = {
        "output": str(output),
        "generator": values.generator,
        "measurements": [m.hex() for m in values.measurements],
        "inputs": len(values.inputs),
    }
    lines = [f"wrote {len(values.measurements)} measurement(s) to {output}:"]
    for entry in values.inputs:
        what = f"vcpus={entry.vcpus} {entry.vcpu_type or entry.vmm_type}"
        lines.append(f"  {what:<24} {entry.measurement.hex()}")
    return doc, "\n".join(lines)


def _require(args: argparse.Namespace, mode: str, *names: str) -> None:
    missing = [name for name in names if getattr(args, name.strip("-").replace("-", "_")) is None]
    if missing:
        raise UsageError(
            f"{mode} needs {', '.join(missing)}",
            component="command line",
            hint="see `cairn reference-values --help`",
        )


def _policy_command(args: argparse.Namespace) -> int:
    from ..refvalues.compute import compute_tdx, compute_uki  # start-up time
    from ..refvalues.tdvf import PageAddOrder  # start-up time

    if args.tdx:
        _require(args, "--tdx", "--firmware", "--kernel", "--memory")
        orders: tuple[PageAddOrder, ...] = (
            ("two-pass", "single-pass")
            if args.page_add_order == "both"
            else (cast(PageAddOrder, args.page_add_order),)
        )
        rtmr0 = None if args.rtmr0 is None else parse_hex_option(args.rtmr0, "--rtmr0")
        if rtmr0 is not None and len(rtmr0) != 48:
            raise UsageError("--rtmr0 is 48 bytes (96 hex digits)", component="command line")
        acpi_digests = None
        if args.acpi_tables is not None:
            from ..refvalues.qemu_acpi import read_acpi_digests  # start-up time

            acpi_digests = read_acpi_digests(args.acpi_tables)
        elif args.acpi_digests is not None:
            from ..refvalues.qemu_acpi import parse_acpi_digests  # start-up time

            acpi_digests = parse_acpi_digests(args.acpi_digests)
        known_good_log = None
        if args.acpi_event_log is not None:
            from ..eventlog import read_event_log  # start-up time
            from ..input_files import read_input_file  # start-up time
            from ..refvalues.tdx_rtmr0 import acpi_digests_from_log  # start-up time

            known_good_log, _ = read_event_log(read_input_file(args.acpi_event_log, "event log"))
            acpi_digests = acpi_digests_from_log(known_good_log)
        computed = compute_tdx(
            args.firmware,
            args.kernel,
            args.initrd,
            args.append or "",
            memory=args.memory,
            acpi_data_size=args.acpi_data_size,
            orders=orders,
            rtmr0=rtmr0,
            acpi_digests=acpi_digests,
            known_good_log=known_good_log,
        )
    else:
        computed = compute_uki(
            args.uki,
            bank=args.bank,
            phase=args.phase,
            kernel_via_loadimage=not args.no_kernel_loadimage,
        )
    text = computed.policy.validated()
    if str(args.output) == STDOUT:
        sys.stdout.write(text)
        return 0
    write_output_file(
        args.output, text.encode(), force=args.force, what="policy", component="reference values"
    )
    doc = {"output": str(args.output), **computed.summary}
    lines = [f"wrote a [{computed.policy.table}] policy to {args.output}:"]
    lines += [f"  {key:<8} {value}" for key, value in computed.policy.values.items()]
    return Output(args.json).document(doc, "\n".join(lines))


def reference_values_command(args: argparse.Namespace) -> int:
    if args.tdx or args.uki is not None:
        return _policy_command(args)
    _require(args, "SEV-SNP reference values", "--ovmf", "--vcpus")
    values = compute_reference_values(
        args.ovmf,
        args.kernel,
        args.initrd,
        args.append,
        vcpus=args.vcpus,
        vcpu_types=[name for group in args.vcpu_type for name in group],
        guest_features=args.guest_features,
        vmm_type=args.vmm_type,
    )
    if str(args.output) == STDOUT:
        sys.stdout.write(values.to_json())
        return 0
    write_reference_values(values, args.output, overwrite=args.force)
    doc, text = _summary(values, args.output)
    return Output(args.json).document(doc, text)
