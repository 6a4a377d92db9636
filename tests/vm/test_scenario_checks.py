"""The end-to-end test's judgements on the guest's probe report (scripts/vm/cairnvm/scenario.py).

``./dev vm`` boots the guest and reads what cairn-vm-probe reports; these tests feed the same
checks reports that describe a healthy first boot, a reboot and a refused unseal, and the ways
each can go wrong (a key-file slot left behind, a token on other PCRs, a volume formatted again,
an agent running without its state), so a check that asserted nothing would fail here.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from cairnvm import nixos, scenario
from cairnvm.image import Image
from cairnvm.machine import Settings
from cairnvm.steps import StepError, Steps

SYSTEM = "/nix/store/" + "1" * 32 + "-cairn-debian-vm-0.1.0"
ROOT_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEYS = {"echo-cpp": "02" + "a" * 64, "echo-rust": "03" + "b" * 64}
ACTIVE = {
    "ActiveState": "active",
    "SubState": "running",
    "Result": "success",
    "LoadState": "loaded",
    "ConditionResult": "yes",
}
SKIPPED = {**ACTIVE, "ActiveState": "inactive", "SubState": "dead", "ConditionResult": "no"}
UNITS = scenario.FIRST_BOOT_ACTIVE


@pytest.fixture
def run(tmp_path: Path) -> scenario.Run:
    image = Image(tmp_path / "image", {"system": SYSTEM, "services": {}, "key": "k"})
    settings = Settings(memory_mib=2048, cores=2, accel="tcg", forwards={8080: 1, 9001: 2, 9002: 3})
    run = scenario.Run(scenario.Options(tmp_path), Steps(), image, nixos.load(), tmp_path, settings)
    run.disks.xchg.mkdir(parents=True)
    run.root_pem().write_text(ROOT_PEM)
    run.public_keys = dict(KEYS)
    return run


def first_boot() -> dict[str, Any]:
    return {
        "systemd": "systemd 252 (252.39-1~deb12u2)",
        "units": {
            **{unit: dict(ACTIVE) for unit in UNITS},
            "cairn-test-tamper-pcr7.service": dict(SKIPPED),
        },
        "luks": {
            "keyslots": ["1"],
            "tokens": [{"type": "systemd-tpm2", "keyslots": ["1"], "tpm2-pcrs": [7]}],
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
        "journal": ["cairn-state-init: formatting /dev/vdb as LUKS2 (first boot: no signature)"],
    }


def reboot() -> dict[str, Any]:
    probe = first_boot()
    probe["journal"] = [
        "cairn-state-init: /dev/vdb is this guest's sealed state volume (PCRs 7): nothing to do"
    ]
    return probe


def tampered() -> dict[str, Any]:
    probe = reboot()
    probe["units"]["cairn-test-tamper-pcr7.service"] = {**ACTIVE, "SubState": "exited"}
    probe["units"][scenario.CRYPTSETUP_UNIT] = {
        **ACTIVE,
        "ActiveState": "failed",
        "Result": "exit-code",
    }
    for unit in (
        "var-lib-cairn.mount",
        "echo-cpp.service",
        "echo-rust.service",
        "cairn-agent.service",
    ):
        probe["units"][unit] = {**SKIPPED, "ConditionResult": "yes"}
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
    scenario.check_first_boot(run, first_boot())
    scenario.check_reboot(run, reboot())
    scenario.check_tampered(run, tampered())


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("luks", "keyslots"), ["0", "1"], "key-file slot was not wiped"),
        (("luks", "tokens", 0, "tpm2-pcrs"), [7, 14], "not \\[7\\]"),
        (("luks", "tokens", 0, "type"), "password", "tokens"),
        (("subsystem",), "cairn-pending", "marked 'cairn-pending'"),
        (("mounted_from",), "/dev/vdb", "mounted from '/dev/vdb'"),
        (
            ("units", "cairn-agent.service", "ActiveState"),
            "failed",
            "cairn-agent.service is failed",
        ),
        (("units", "cairn-test-tamper-pcr7.service", "ConditionResult"), "yes", "tamper unit ran"),
        (("services", "echo-rust", "key_mode"), "644", "signing.key is 644"),
        (("services", "echo-cpp", "private_dir_mode"), "777", "directory mode 777"),
        (("export_root",), "", "disagree"),
        (("booted_system",), "/nix/store/" + "2" * 32 + "-other", "booted-system"),
        (("journal",), [], "no first-boot format"),
    ],
)
def test_first_boot_failures_are_caught(
    run: scenario.Run, path: tuple[Any, ...], value: Any, message: str
) -> None:
    with pytest.raises(StepError, match=message):
        scenario.check_first_boot(run, broken(first_boot(), path, value))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ("journal",),
            ["cairn-state-init: formatting /dev/vdb as LUKS2 (...)", "nothing to do"],
            "formatted again",
        ),
        (("journal",), [], "did not recognise"),
        (("services", "echo-cpp", "public_key"), "02" + "c" * 64, "public key changed"),
        (("mounted_from",), "", "not mounted from the TPM-unlocked volume"),
    ],
)
def test_reboot_failures_are_caught(
    run: scenario.Run, path: tuple[Any, ...], value: Any, message: str
) -> None:
    with pytest.raises(StepError, match=message):
        scenario.check_reboot(run, broken(reboot(), path, value))


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("units", scenario.CRYPTSETUP_UNIT, "ActiveState"), "active", "not failed"),
        (("units", "cairn-agent.service", "ActiveState"), "active", "agent runs without its state"),
        (("mounted_from",), "/dev/mapper/cairn-state", "mounted after a refused unseal"),
        (("subsystem",), "cairn-pending", "not cairn-sealed"),
        (("journal",), ["cairn-state-init: formatting /dev/vdb as LUKS2 (...)"], "formatted again"),
        (
            ("units", "cairn-test-tamper-pcr7.service", "ConditionResult"),
            "no",
            "tamper unit did not run",
        ),
    ],
)
def test_tamper_failures_are_caught(
    run: scenario.Run, path: tuple[Any, ...], value: Any, message: str
) -> None:
    with pytest.raises(StepError, match=message):
        scenario.check_tampered(run, broken(tampered(), path, value))


def test_private_directory_mode_by_systemd_version() -> None:
    assert scenario.private_directory_mode("systemd 252 (252.39-1~deb12u2)") == "755"
    assert scenario.private_directory_mode("systemd 257 (257.9)") == "700"
