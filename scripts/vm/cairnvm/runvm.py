"""``./dev vm -- run``: boot the guest with its console on this terminal, like ``nix run .#run-vm``.

The root disk (a copy-on-write layer over the cached image), the encrypted state disk and the
swtpm state stay together in one directory (``--state``, default ``./cairn-vm-state``), so the
TPM-sealed volume opens again on the next run; delete the directory to start again with a new
TPM and a new volume. The agent and both services are forwarded to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import nixos, render
from .image import Builder
from .machine import Disks, Machine, choose_accel
from .scenario import forwarded_guest_ports, settings_for, state_disk_mib
from .steps import StepError, Steps


@dataclass(frozen=True)
class RunOptions:
    cache: Path
    state: Path
    accel: str
    ports: Mapping[int, int]
    """guest port -> host port"""
    rebuild: bool = False


def run_interactive(options: RunOptions, steps: Steps) -> int:
    image = Builder(options.cache, steps, rebuild=options.rebuild).image()
    data = nixos.load()
    disks = Disks(options.state.resolve())
    marker = disks.directory / "image-key"
    if disks.exists():
        made_for = marker.read_text().strip() if marker.is_file() else "unknown"
        if made_for != image.manifest["key"]:
            raise StepError(
                f"{disks.directory} was made for another image ({made_for[:16]}); the sources "
                "changed since. Delete it to start again (new TPM, new state volume), or use "
                "another --state"
            )
        fresh = "kept from an earlier run"
    else:
        disks.create(image, state_disk_mib(data))
        marker.write_text(image.manifest["key"] + "\n")
        fresh = "new: the first boot creates the TPM-sealed state volume"
    guest_ports = forwarded_guest_ports(data)
    accel, why = choose_accel(options.accel)
    settings = settings_for(data, accel, {port: options.ports[port] for port in guest_ports})
    (disks.xchg / "simulated-root.pem").unlink(
        missing_ok=True
    )  # rewritten by the guest on every boot
    agent = options.ports[8080]
    print(
        f"""Booting the Cairn Debian guest (simulated SEV-SNP, software TPM; {accel}: {why}).
State in {disks.directory} ({fresh}).
Forwarded to 127.0.0.1 only: agent {agent}, echo-cpp {options.ports[9001]},
echo-rust {options.ports[9002]}.
When the agent is up, the guest writes its SIMULATED root to {disks.xchg}/simulated-root.pem; then,
in another shell:

  cairn verify evidence http://127.0.0.1:{agent} \\
      --trust-simulated-root {disks.xchg}/simulated-root.pem

Nothing in this VM is hardware-backed, and the verifier says so. Quit QEMU with Ctrl-a x.
Delete {disks.directory} to start again with a new TPM and a new state volume.
""",
        file=sys.stderr,
        flush=True,
    )
    cmdline = render.kernel_command_line(data)
    with Machine(image, disks, settings, cmdline=cmdline, console=None) as machine:
        assert machine.qemu is not None
        try:
            return machine.qemu.wait()
        except KeyboardInterrupt:
            # SIGTERM/SIGHUP (or Ctrl-C outside QEMU's console): shut the guest down cleanly so
            # the state volume is consistent; Machine stops whatever is still running after.
            print("stopping the VM: ACPI power button", file=sys.stderr, flush=True)
            with contextlib.suppress(StepError):
                machine.power_off(timeout=120)
            raise
