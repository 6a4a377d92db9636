"""The snp-derived VM scenario's judgements (scripts/vm/cairnvm/derived.py) on probe reports: a
healthy first boot, reboot and refused launch pass; a left-over key file, a TPM token, a second
keyslot, a volume formatted again or opened after another launch are caught. And the host's
prediction of the simulated measurement is the agent's own formula."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
from cairnvm import derived, nixos, scenario
from cairnvm.image import Image
from cairnvm.machine import Settings
from cairnvm.steps import StepError, Steps

from cairn_agent.tee.simulated_snp import LAUNCH_DESCRIPTION, launch_description

SYSTEM = "/nix/store/" + "1" * 32 + "-cairn-debian-vm-0.1.0"
ROOT_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEYS = {"echo-cpp": "02" + "a" * 64, "echo-rust": "03" + "b" * 64}
ACTIVE = {"ActiveState": "active", "SubState": "exited", "Result": "success",
          "LoadState": "loaded", "ConditionResult": "yes"}  # fmt: skip
DOWN = {**ACTIVE, "ActiveState": "inactive", "SubState": "dead", "Result": "dependency"}
SKIPPED = {**DOWN, "Result": "success", "ConditionResult": "no"}


def first_boot() -> dict[str, Any]:
    """What the probe reports on a healthy first boot (the parts every key source shares)."""
    return {
        "systemd": "systemd 252 (252.39-1~deb12u2)",
        "units": {
            **{unit: dict(ACTIVE) for unit in scenario.FIRST_BOOT_ACTIVE},
            "cairn-test-tamper-pcr7.service": dict(SKIPPED),
        },
        "subsystem": "cairn-sealed",
        "mounted_from": "/dev/mapper/cairn-state",
        "booted_system": SYSTEM,
        "export_root": ROOT_PEM,
        "services": {
            name: {
                "public_key": key + "\n",
                "private_dir_mode": "755",
                "key_mode": "600",
                "key_owner": name,
            }
            for name, key in KEYS.items()
        },
    }


@pytest.fixture
def run(tmp_path: Path) -> scenario.Run:
    image = Image(tmp_path / "image", {"system": SYSTEM, "services": {}, "key": "k"})
    settings = Settings(memory_mib=2048, cores=2, accel="tcg", forwards={8080: 1, 9001: 2, 9002: 3})
    data = nixos.load("snp-derived")
    run = scenario.Run(
        scenario.Options(tmp_path, key_source="snp-derived"), Steps(), image, data, tmp_path,
        settings,
    )  # fmt: skip
    run.disks.xchg.mkdir(parents=True)
    run.root_pem().write_text(ROOT_PEM)
    run.public_keys = dict(KEYS)
    return run


def derived_first_boot() -> dict[str, Any]:
    probe = first_boot()
    probe["units"][derived.KEY_UNIT] = dict(ACTIVE)
    probe["units"][derived.FORGET_UNIT] = dict(ACTIVE)
    probe["luks"] = {"keyslots": ["0"], "tokens": [{"type": derived.TOKEN, "keyslots": ["0"],
                                                    "tpm2-pcrs": None}]}  # fmt: skip
    probe["journal"] = [
        "cairn-state-init: formatting /dev/vdb as LUKS2 (first boot: no signature), key from "
        "snp-derived"
    ]
    probe["key_file_left"] = False
    return probe


def derived_reboot() -> dict[str, Any]:
    probe = derived_first_boot()
    probe["journal"] = [
        "cairn-state-init: /dev/vdb is this guest's sealed state volume (key from snp-derived): "
        "nothing to do"
    ]
    return probe


def refused() -> dict[str, Any]:
    probe = derived_reboot()
    probe["units"]["cairn-state-init.service"] = {**ACTIVE, "ActiveState": "failed"}
    for unit in (scenario.CRYPTSETUP_UNIT, derived.FORGET_UNIT, "var-lib-cairn.mount",
                 "cairn-agent.service", "echo-cpp.service", "echo-rust.service"):  # fmt: skip
        probe["units"][unit] = dict(DOWN)
    probe["journal"] = [
        "cairn-state-init: REFUSED: the derived key does not open /dev/vdb (sealed to: ...)"
    ]
    probe["mounted_from"] = ""
    return probe


def broken(probe: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(probe)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def test_healthy_reports_pass(run: scenario.Run) -> None:
    derived.check_derived_first_boot(run, derived_first_boot())
    derived.check_derived_reboot(run, derived_reboot())
    derived.check_derived_refused(run, refused())


@pytest.mark.parametrize(
    ("check", "probe", "path", "value", "message"),
    [
        ("first", derived_first_boot, ("key_file_left",), True, "still in /run"),
        ("first", derived_first_boot, ("luks", "tokens", 0, "type"), "systemd-tpm2", "tokens"),
        ("first", derived_first_boot, ("luks", "keyslots"), ["0", "1"], "keyslots"),
        ("first", derived_first_boot, ("journal",), ["formatting /dev/vdb as LUKS2 (tpm)"],
         "derived key"),
        ("first", derived_first_boot, ("units", derived.KEY_UNIT, "ActiveState"), "failed",
         "cairn-state-key.service is failed"),
        ("reboot", derived_reboot, ("journal",), ["formatting /dev/vdb", "nothing to do"],
         "formatted again"),
        ("reboot", derived_reboot, ("key_file_left",), True, "still in /run"),
        ("refused", refused, ("units", "cairn-state-init.service", "ActiveState"), "active",
         "cairn-state-init is active"),
        ("refused", refused, ("units", "cairn-agent.service", "ActiveState"), "active",
         "cairn-agent.service is active"),
        ("refused", refused, ("mounted_from",), "/dev/mapper/cairn-state", "mounted"),
        ("refused", refused, ("journal",), ["something else"], "does not open"),
        ("refused", refused, ("units", derived.KEY_UNIT, "ActiveState"), "failed",
         "another one"),
    ],
)  # fmt: skip
def test_failures_are_caught(
    run: scenario.Run, check: str, probe: Any, path: tuple[Any, ...], value: Any, message: str
) -> None:
    judge = {
        "first": derived.check_derived_first_boot,
        "reboot": derived.check_derived_reboot,
        "refused": derived.check_derived_refused,
    }[check]
    with pytest.raises(StepError, match=message):
        judge(run, broken(probe(), path, value))


def test_the_host_predicts_the_agents_measurement(tmp_path: Path) -> None:
    assert derived.LAUNCH_DESCRIPTION == LAUNCH_DESCRIPTION
    data = nixos.load("snp-derived")
    inputs = data["agent"]["settings"]["tee"]["simulated_launch_inputs"]
    assert inputs == [derived.LAUNCH_INPUT]
    # The guest's file, moved under tmp_path: the path is part of the description, so rebuild
    # the agent's description with the guest's path spelled out.
    value = tmp_path / "product_version"
    value.write_text(f"{derived.LAUNCHES[0]}\n")
    described = launch_description([value]).replace(
        str(value).encode(), derived.LAUNCH_INPUT.encode()
    )
    predicted = derived.expected_measurement(derived.LAUNCHES[0])
    assert predicted == hashlib.sha384(described).hexdigest()
    assert derived.expected_measurement(derived.LAUNCHES[0]) != derived.expected_measurement(
        derived.LAUNCHES[1]
    )


def test_the_derived_evaluation_keys_the_volume_from_the_simulated_amd_sp() -> None:
    data = nixos.load("snp-derived")
    assert data["configuration"]["luksTpm"]["keySource"] == "snp-derived"
    assert "/run/cairn-state-key/key" in data["luksTpm"]["crypttab"]
    key_unit = data["luksTpm"]["systemd"]["services"]["cairn-state-key"]["serviceConfig"]
    assert "--source snp-derived" in key_unit["ExecStart"]
    assert key_unit["User"] == "cairn-agent"
    tee = data["agent"]["settings"]["tee"]
    # The chip is outside /var/lib/cairn (the volume its key opens), in both units' state dirs.
    assert not tee["simulated_directory"].startswith("/var/lib/cairn/")
    chip = tee["simulated_directory"].removeprefix("/var/lib/")
    assert key_unit["StateDirectory"] == chip
    agent_unit = data["agent"]["systemd"]["services"]["cairn-agent"]["serviceConfig"]
    assert chip in agent_unit["StateDirectory"]
    tpm = nixos.load("tpm")
    assert tpm["agent"]["settings"]["tee"]["simulated_launch_inputs"] == []
    assert "cairn-state-key" not in tpm["luksTpm"]["systemd"]["services"]


def test_the_measurement_check_must_pass_on_the_predicted_value(run: scenario.Run) -> None:
    launch = derived.LAUNCHES[0]
    check = {
        "name": "measurement",
        "outcome": "pass",
        "actual": derived.expected_measurement(launch),
        "expected": derived.expected_measurement(launch),
    }
    derived.check_measurement(run, {"checks": [check]}, launch)
    for changed in ({"outcome": "skipped"}, {"actual": derived.expected_measurement("other")}):
        with pytest.raises(StepError, match="MEASUREMENT check did not pass"):
            derived.check_measurement(run, {"checks": [{**check, **changed}]}, launch)
    with pytest.raises(StepError, match="MEASUREMENT check did not pass"):
        derived.check_measurement(run, {"checks": []}, launch)
