"""``cairn reference-values``: compute the SEV-SNP launch measurements an image will produce.

Runs sev-snp-measure over the firmware (and, for direct boot, kernel, initrd and command line)
for every requested vCPU count and CPU type, and writes a reference-values file that
``cairn verify snp --reference-values FILE`` accepts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..snp.measure import GUEST_FEATURES_SNP_ONLY, VMM_TYPES, compute_reference_values
from ..snp.reference_values import ReferenceValues, write_reference_values
from .commands import register_module
from .common import Output, add_json_option

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


def register(commands: Any) -> None:
    """Add ``reference-values`` to a subparsers action (``cairn`` itself loads it lazily)."""
    register_module(commands, "reference_cmd")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Compute the SEV-SNP launch measurement of a guest for every vCPU count and "
        "CPU type given, with sev-snp-measure, and write a reference-values file for "
        "`cairn verify snp --reference-values`."
    )
    parser.add_argument(
        "--ovmf", type=Path, required=True, metavar="FILE", help="OVMF firmware image"
    )
    parser.add_argument(
        "--kernel", type=Path, metavar="FILE", help="kernel QEMU boots directly (-kernel)"
    )
    parser.add_argument("--initrd", type=Path, metavar="FILE", help="initrd (-initrd)")
    parser.add_argument("--append", metavar="CMDLINE", help="kernel command line (-append)")
    parser.add_argument(
        "--vcpus",
        type=vcpu_counts,
        required=True,
        metavar="N[,N...]",
        help="vCPU counts to measure, e.g. 1,2,4",
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
        help="reference-values file to write ('-' = standard output)",
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


def reference_values_command(args: argparse.Namespace) -> int:
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
