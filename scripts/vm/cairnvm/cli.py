"""``./dev vm [-- COMMAND ...]``: build, test or run the Debian guest; check the NixOS snapshot."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from . import nixos
from .image import Builder
from .runvm import RunOptions, run_interactive
from .scenario import Options, run_test
from .steps import StepError, Steps, log

DEFAULT_CACHE = nixos.REPO_ROOT / ".cache" / "vm"
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
COMMANDS = ("test", "build", "run", "nixos-eval")


def _cache(value: str | None) -> Path:
    return Path(value or os.environ.get("CAIRN_VM_CACHE") or DEFAULT_CACHE).resolve()


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where images, wheels and run logs are kept "
        f"(default: $CAIRN_VM_CACHE or {DEFAULT_CACHE})",
    )
    common.add_argument(
        "--rebuild", action="store_true", help="rebuild every image layer even if cached"
    )
    common.add_argument(
        "--accel",
        choices=["auto", "kvm", "tcg"],
        default="auto",
        help="QEMU accelerator (default: KVM when it works, else TCG)",
    )
    parser = argparse.ArgumentParser(
        prog="./dev vm --",
        description="A Cairn VM without Nix: a Debian 12 guest with the agent and both echo "
        "services "
        "from this checkout, booted under QEMU with swtpm (README: 'Run a Cairn VM without Nix'). "
        "Without a COMMAND, or with only options, runs `test`.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    test = sub.add_parser(
        "test",
        parents=[common],
        help="the end-to-end test (the default): first boot, attest, reboot, tampered PCR 7",
    )
    test.add_argument(
        "--boot-timeout",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="wall-clock limit for each boot to reach its checkpoint (default: 900)",
    )
    test.add_argument(
        "--key-source",
        choices=nixos.KEY_SOURCES,
        default="tpm",
        help="the state volume's cairn.luksTpm.keySource: tpm (default: sealed to PCR 7, the "
        "third boot changes PCR 7) or snp-derived (the simulated AMD-SP derives the key; the "
        "third boot is another launch, with another measurement)",
    )
    test.add_argument(
        "--keep", action="store_true", help="keep the run's disks and TPM (logs are always kept)"
    )
    sub.add_parser(
        "build",
        parents=[common],
        help="build the image (or find it in the cache) and print where it is",
    )
    run = sub.add_parser(
        "run",
        parents=[common],
        help="boot the VM with its console here; disks and TPM kept in --state "
        "(like `nix run .#run-vm`)",
    )
    run.add_argument(
        "--state",
        type=Path,
        default=Path("cairn-vm-state"),
        metavar="DIR",
        help="state directory (default: ./cairn-vm-state)",
    )
    run.add_argument(
        "--agent-port",
        type=int,
        default=8080,
        metavar="PORT",
        help="host port for the agent (default: 8080)",
    )
    run.add_argument(
        "--echo-cpp-port",
        type=int,
        default=9001,
        metavar="PORT",
        help="host port for echo-cpp (default: 9001)",
    )
    run.add_argument(
        "--echo-rust-port",
        type=int,
        default=9002,
        metavar="PORT",
        help="host port for echo-rust (default: 9002)",
    )
    evaluation = sub.add_parser(
        "nixos-eval",
        help="compare (--check) or regenerate (--write) scripts/vm/nixos-cvm-qemu.json from "
        "the NixOS modules",
    )
    mode = evaluation.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="exit 1 when the snapshot is stale")
    mode.add_argument("--write", action="store_true", help="write a fresh snapshot")
    return parser


def _terminate(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM/SIGHUP: unwind like Ctrl-C, so every VM and swtpm is stopped on the way out."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or (arguments[0] not in COMMANDS and arguments[0] not in ("-h", "--help")):
        arguments.insert(0, "test")
    args = build_parser().parse_args(arguments)
    command = args.command
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    if command == "nixos-eval":
        try:
            if args.write:
                nixos.write()
                log(f"wrote {', '.join(map(str, nixos.SNAPSHOTS.values()))}")
                return 0
            stale = [nixos.SNAPSHOTS[k] for k in nixos.KEY_SOURCES if nixos.stale(k)]
            for snapshot in stale:
                log(f"{snapshot} is stale: run ./dev vm -- nixos-eval --write and commit it")
            if stale:
                return EXIT_FAILED
            log(f"{', '.join(map(str, nixos.SNAPSHOTS.values()))} match the NixOS modules")
            return 0
        except nixos.NixosEvalError as exc:
            log(str(exc))
            return EXIT_FAILED
    cache = _cache(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    steps = Steps()
    try:
        if command == "build":
            image = Builder(cache, steps, rebuild=args.rebuild).image()
            print(image.directory)
        elif command == "run":
            ports = {8080: args.agent_port, 9001: args.echo_cpp_port, 9002: args.echo_rust_port}
            return run_interactive(
                RunOptions(cache, args.state, args.accel, ports, args.rebuild), steps
            )
        else:
            run_test(
                Options(
                    cache, args.accel, args.boot_timeout, args.keep, args.rebuild, args.key_source
                ),
                steps,
            )
    except StepError as exc:
        steps.print_summary()
        print(f"\nFAILED: {exc.message}", file=sys.stderr)
        if exc.details:
            print(exc.details, file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        steps.print_summary()
        print("\ninterrupted; every VM and swtpm started here was stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        steps.print_summary()
        traceback.print_exc()
        print(
            "\nINTERNAL ERROR (a bug in scripts/vm: please report it); every VM and swtpm started "
            "here was stopped",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    steps.print_summary()
    if command == "test" and args.key_source == "snp-derived":
        print(
            "\nPASSED: first boot with the SNP-derived key, attestation (measurement pinned), "
            "reboot opened by the re-derived key, volume refused untouched after another launch;"
            " no QEMU or swtpm left running"
        )
    elif command == "test":
        print(
            "\nPASSED: first boot, attestation, reboot with TPM unlock, refused unlock after a "
            "PCR 7 change;"
            " no QEMU or swtpm left running"
        )
    return 0
