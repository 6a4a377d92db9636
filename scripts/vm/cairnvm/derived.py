"""``./dev vm -- test --key-source snp-derived``: the state volume keyed by the simulated AMD-SP.

The image is rendered from the NixOS modules evaluated with ``cairn.luksTpm.keySource =
"snp-derived"`` (``scripts/vm/nixos-cvm-qemu-snp-derived.json``): ``cairn-state-key`` runs
``cairn-agent state-key --source snp-derived`` (``MSG_KEY_REQ`` of the simulated SEV-SNP
firmware, bound to the launch measurement and the guest policy) into a tmpfs file,
``cairn-state-init --key-source snp-derived`` formats or checks the volume with it, cryptsetup
opens it with it and ``cairn-state-key-forget`` deletes it. The simulated chip lives on the root
disk (outside the volume its key opens, as hardware would); the simulated launch measurement
covers the SMBIOS product version the host launches the VM with, so the host chooses "which
guest" it launches as a real host chooses the image whose measurement the AMD-SP records.

1. **First boot** (launch A): the volume is formatted with the derived key (one keyslot held by
   a ``cairn-snp-derived`` token, no TPM token), opened, its file system made and mounted; the
   key file is gone once it is open; both services and the agent start; from the host
   ``cairn verify evidence`` with a policy that also pins the MEASUREMENT the host predicts for
   launch A, and a response of each echo service against the attested key.
2. **Second boot** (launch A again): the key is derived again and opens the volume (nothing
   formatted, same LUKS2 header, same service keys and tree root, the measurement still A's).
3. **Another launch** (launch B: another measurement): a key is still derived (the firmware
   answers any guest), but it is another key: ``cairn-state-init`` refuses the volume, nothing
   opens or mounts it, the agent does not start (``cairn verify evidence`` exits 6), and not one
   byte of the state disk changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .scenario import (
    CRYPTSETUP_UNIT,
    SERVICES,
    Run,
    agent_reachable,
    check_first_boot_common,
    expect,
    expect_evidence_unavailable,
    file_digest,
    luks_header,
)

LAUNCHES = ("cairn-vm-launch-a", "cairn-vm-launch-b")
"""The SMBIOS type 1 version of the first two boots (A) and of the third (B)."""
LAUNCH_INPUT = "/sys/class/dmi/id/product_version"
LAUNCH_DESCRIPTION = (
    b"Cairn simulated SEV-SNP launch, version 1: no firmware, kernel or initrd was measured"
)
"""The simulated platform's fixed launch text (cairn_agent.tee.simulated_snp.LAUNCH_DESCRIPTION;
tests/vm/test_derived_scenario.py checks that both say the same)."""
KEY_UNIT = "cairn-state-key.service"
FORGET_UNIT = "cairn-state-key-forget.service"
TOKEN = "cairn-snp-derived"


def expected_measurement(launch: str) -> str:
    """The MEASUREMENT (hex) the simulated platform reports for a VM launched with ``launch``:
    what a relying party predicts from the launch, as ``sev-snp-measure`` does for real guests.
    The guest reads the SMBIOS value through sysfs, which ends it with a newline."""
    value = f"{launch}\n".encode()
    description = (
        LAUNCH_DESCRIPTION + b"\0" + LAUNCH_INPUT.encode() + b"\0" + hashlib.sha384(value).digest()
    )
    return hashlib.sha384(description).hexdigest()


def check_measurement(run: Run, result: Mapping[str, Any], launch: str) -> None:
    """The policy's ``measurement`` check passed on the measurement predicted for ``launch``."""
    expected = expected_measurement(launch)
    checks = [check for check in result["checks"] if check["name"] == "measurement"]
    expect(
        len(checks) == 1 and checks[0]["outcome"] == "pass" and checks[0].get("actual") == expected,
        f"the MEASUREMENT check did not pass with launch {launch}'s {expected}",
        checks or result["checks"],
    )
    run.steps.note(f"MEASUREMENT {expected}: launch {launch}'s, as the host predicted")


def check_derived_first_boot(run: Run, probe: Mapping[str, Any]) -> None:
    units = probe["units"]
    for unit in (KEY_UNIT, FORGET_UNIT):
        expect(
            units[unit]["ActiveState"] == "active", f"{unit} is {units[unit]['ActiveState']}", probe
        )
    tokens, keyslots = probe["luks"]["tokens"], probe["luks"]["keyslots"]
    expect([t["type"] for t in tokens] == [TOKEN], f"tokens: {tokens}", probe)
    expect(keyslots == tokens[0]["keyslots"] and len(keyslots) == 1, f"keyslots {keyslots}", probe)
    expect(not probe["key_file_left"], "the derived key is still in /run/cairn-state-key", probe)
    expect(
        any("formatting /dev/vdb as LUKS2" in line and "snp-derived" in line for line in
            probe["journal"]),
        "no first-boot format with the derived key in the journal",
        probe["journal"],
    )  # fmt: skip
    check_first_boot_common(run, probe)
    run.steps.note(
        f"LUKS2 sealed with the derived key: token {TOKEN}, keyslots {keyslots}, no TPM token; "
        "the key file deleted once the volume was open"
    )


def check_derived_reboot(run: Run, probe: Mapping[str, Any]) -> None:
    units = probe["units"]
    for unit in (KEY_UNIT, "cairn-state-init.service", CRYPTSETUP_UNIT, "var-lib-cairn.mount",
                 FORGET_UNIT, "cairn-agent.service"):  # fmt: skip
        expect(
            units[unit]["ActiveState"] == "active", f"{unit} is {units[unit]['ActiveState']}", probe
        )
    journal = probe["journal"]
    expect(
        any("nothing to do" in line for line in journal),
        "cairn-state-init did not find its sealed volume opened by the re-derived key",
        journal,
    )
    expect(not any("formatting" in line for line in journal), "formatted again", journal)
    expect(probe["mounted_from"] == "/dev/mapper/cairn-state", "not mounted", probe)
    expect(not probe["key_file_left"], "the derived key is still in /run/cairn-state-key", probe)
    for name in SERVICES:
        expect(
            probe["services"][name]["public_key"].strip() == run.public_keys[name],
            f"{name}'s public key changed",
            probe,
        )
    run.steps.note("the re-derived key opened the volume: nothing formatted, same keys")


def check_derived_refused(run: Run, probe: Mapping[str, Any]) -> None:
    units = probe["units"]
    expect(
        units[KEY_UNIT]["ActiveState"] == "active",
        f"{KEY_UNIT} is {units[KEY_UNIT]['ActiveState']}: the firmware should derive a key "
        "(another one) for another launch",
        probe,
    )
    init = units["cairn-state-init.service"]
    expect(init["ActiveState"] == "failed", f"cairn-state-init is {init['ActiveState']}", probe)
    journal = probe["journal"]
    expect(
        any("the derived key does not open /dev/vdb" in line for line in journal),
        "cairn-state-init did not say the derived key does not open the volume",
        journal,
    )
    expect(not any("formatting" in line for line in journal), "formatted again", journal)
    for unit in (CRYPTSETUP_UNIT, "var-lib-cairn.mount", "cairn-agent.service"):
        expect(units[unit]["ActiveState"] != "active", f"{unit} is active", probe)
    expect(probe["mounted_from"] == "", "/var/lib/cairn is mounted", probe)
    expect(probe["subsystem"] == "cairn-sealed", f"marked {probe['subsystem']!r}", probe)
    for line in journal:
        if "derived key" in line or "refus" in line.lower():
            run.steps.note(f"guest journal: {line[:200]}")
    run.steps.note(
        f"cairn-state-init: failed; {CRYPTSETUP_UNIT}: {units[CRYPTSETUP_UNIT]['ActiveState']}; "
        f"/var/lib/cairn not mounted; cairn-agent: {units['cairn-agent.service']['ActiveState']}"
    )


def derived_boots(run: Run) -> None:
    steps = run.steps
    launch_a, launch_b = LAUNCHES
    run.measurements = [expected_measurement(launch_a)]
    steps.note(f"launch A measurement (predicted by the host): {run.measurements[0]}")
    with steps.step("boot 1: start swtpm and QEMU (launch A, empty state disk)"):
        machine = run.boot(1, tamper=False, launch=launch_a)
    with machine:
        with steps.step("boot 1: wait for the agent to be healthy"):
            run.wait_healthy(machine)
        with steps.step("boot 1: state volume formatted and opened with the SNP-derived key"):
            check_derived_first_boot(run, run.probe(machine))
        with steps.step("boot 1: cairn verify evidence (launch A's measurement pinned)"):
            result = run.verify_evidence("boot-1", pin_keys=False)
            check_measurement(run, result, launch_a)
        evidence = json.loads(Path(result["evidence_file"]).read_text())
        run.public_keys = {s["name"]: s["public_key"] for s in evidence["claims"]["services"]}
        run.tree_root = result["claims"]["tree_root"]
        run.kept_root().write_bytes(run.root_pem().read_bytes())
        for name in SERVICES:
            with steps.step(f"boot 1: {name}: request, tree proof, verify response"):
                run.check_service(name, result, "boot-1")
        with steps.step("boot 1: power off"):
            run.power_off(machine)
    with steps.step("host: the state disk's LUKS2 header"):
        run.header = luks_header(run.disks.state)
        expect(
            [t["type"] for t in run.header["tokens"].values()] == [TOKEN],
            "the host sees other tokens",
            run.header,
        )
        steps.note(f"LUKS2 UUID {run.header['uuid']}, one keyslot, token {TOKEN}")

    with steps.step("boot 2: start swtpm and QEMU (launch A again, same disks)"):
        machine = run.boot(2, tamper=False, launch=launch_a)
    with machine:
        with steps.step("boot 2: wait for the agent to be healthy"):
            run.wait_healthy(machine)
        with steps.step("boot 2: the re-derived key opened the volume, nothing re-created"):
            check_derived_reboot(run, run.probe(machine))
            expect(
                run.root_pem().read_text() == run.kept_root().read_text(),
                "the simulated root changed across the reboot (another simulated chip?)",
            )
        with steps.step("boot 2: cairn verify evidence (measurement and first boot's keys)"):
            result = run.verify_evidence("boot-2", pin_keys=True)
            check_measurement(run, result, launch_a)
            expect(
                result["claims"]["tree_root"] == run.tree_root,
                "the tree root changed across the reboot",
                result["claims"],
            )
            steps.note(f"same tree root as the first boot: {run.tree_root}")
        for name in SERVICES:
            with steps.step(f"boot 2: {name}: request, tree proof, verify response"):
                run.check_service(name, result, "boot-2")
        with steps.step("boot 2: power off"):
            run.power_off(machine)
    with steps.step("host: the same LUKS2 header after the reboot"):
        expect(luks_header(run.disks.state) == run.header, "the LUKS2 header changed")

    before = file_digest(run.disks.state)
    steps.note(f"launch B measurement: {expected_measurement(launch_b)}")
    with steps.step("boot 3: start swtpm and QEMU (launch B: another measurement)"):
        machine = run.boot(3, tamper=False, launch=launch_b)
    with machine:
        with steps.step("boot 3: another derived key, the volume refused, agent not started"):
            check_derived_refused(run, run.probe(machine))
            expect(
                not agent_reachable(run.agent_port),
                "the agent answers although its state is locked",
            )
        expect_evidence_unavailable(run, 3)
        with steps.step("boot 3: power off"):
            run.power_off(machine)
    with steps.step("host: not one byte of the state disk changed"):
        after = file_digest(run.disks.state)
        expect(after == before, "the state disk changed", {"before": before, "after": after})
        expect(luks_header(run.disks.state) == run.header, "the LUKS2 header changed")
        steps.note(f"sha256 {after} before and after the refused launch")
