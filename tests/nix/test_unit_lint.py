"""A lint of what Cairn's NixOS modules define, evaluated with the stub lib (tests/nix/eval/).

Each module is evaluated on its own for the settings that matter (production and debug, with
and without the agent module, VM and hardware); the tests below check its units against the
rules nixpkgs applies when it merges them, each cited where it is relied on.

Not covered, because it needs nixpkgs' module system: merging with nixpkgs' own definitions,
option types declared by nixpkgs, and rendering unit files. `nix flake check` does that in CI.
The checks name the issue-12 item they guard.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nix_eval import EVAL_DIR, REPO_ROOT, evaluate_json, unwrap

CONSOLE_UNITS = {
    "getty@",
    "autovt@",
    "serial-getty@",
    "container-getty@",
    "console-getty",
    "getty@tty1",
    "autovt@tty1",
}
# Options of a NixOS systemd service (nixos/lib/systemd-unit-options.nix) used by Cairn.
NIXOS_SERVICE_OPTIONS = {
    "enable", "description", "wantedBy", "requiredBy", "before", "after", "wants", "requires",
    "bindsTo", "partOf", "conflicts", "environment", "path", "script", "preStart",
    "serviceConfig", "unitConfig", "restartIfChanged", "restartTriggers",
}  # fmt: skip
# [Service] and execution directives (systemd.service(5), systemd.exec(5), systemd.kill(5)).
SERVICE_DIRECTIVES = {
    "Type", "ExecStart", "ExecStartPre", "ExecStartPost", "ExecStop", "ExecStopPost",
    "RemainAfterExit", "Restart", "RestartSec", "TimeoutStartSec", "User", "Group", "DynamicUser",
    "SupplementaryGroups", "StateDirectory", "StateDirectoryMode", "RuntimeDirectory",
    "RuntimeDirectoryMode", "RuntimeDirectoryPreserve", "UMask", "Environment",
    "StandardOutput", "StandardError",
    "DevicePolicy", "DeviceAllow", "ReadWritePaths", "InaccessiblePaths",
    "CapabilityBoundingSet", "AmbientCapabilities", "NoNewPrivileges", "ProtectSystem",
    "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateUsers", "ProtectKernelTunables",
    "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "ProtectClock",
    "ProtectHostname", "ProtectProc", "ProcSubset", "RestrictAddressFamilies",
    "RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality",
    "MemoryDenyWriteExecute", "SystemCallArchitectures", "SystemCallFilter",
}  # fmt: skip
# [Unit] directives (systemd.unit(5)).
UNIT_DIRECTIVES = {"DefaultDependencies", "RequiresMountsFor", "ConditionPathExists"}


@pytest.fixture(scope="module")
def lint() -> dict[str, Any]:
    result: dict[str, Any] = evaluate_json(f"import {EVAL_DIR}/lint.nix")
    return result


def definitions(lint: dict[str, Any], scenario: str) -> dict[str, Any]:
    defs: dict[str, Any] = lint["modules"][scenario]["definitions"]
    return defs


def every_definition_set(lint: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, definitions) of every evaluated module, configuration and test node."""
    for name, scenario in lint["modules"].items():
        yield f"modules.{name}", scenario["definitions"]
    for name, configuration in lint["configurations"].items():
        yield f"configurations.{name}", configuration["definitions"]
    for name, node in lint["vmTest"]["nodes"].items():
        yield f"vmTest.nodes.{name}", node["definitions"]
    yield "vmTest.common", lint["vmTest"]["common"]["definitions"]


def services(defs: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = defs.get("systemd", {}).get("services", {})
    return result


def every_unit(lint: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for where, defs in every_definition_set(lint):
        for name, unit in services(defs).items():
            yield where, name, unit


def option_list(command: str, flag: str) -> str:
    match = re.search(rf"{flag} (\S+)", command)
    assert match, (flag, command)
    return match.group(1)


# --- item 1: login story ----------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["cvm-sev-snp-production", "cvm-tdx-production"])
def test_production_has_no_logins_and_says_so_to_users_groups(
    lint: dict[str, Any], scenario: str
) -> None:
    users = definitions(lint, scenario)["users"]
    # nixos/modules/config/users-groups.nix asserts that with mutableUsers = false root or a
    # wheel user has a password or key, unless allowNoPasswordLogin is set.
    assert users["mutableUsers"] is False
    assert users["allowNoPasswordLogin"] is True
    assert definitions(lint, scenario)["systemd"]["enableEmergencyMode"] is False


def test_the_debug_vm_satisfies_the_users_assertion(lint: dict[str, Any]) -> None:
    cvm = definitions(lint, "cvm-qemu-debug")
    assert cvm["users"]["mutableUsers"] is False
    assert "allowNoPasswordLogin" not in cvm["users"]
    root = lint["configurations"]["cvm-qemu"]["definitions"]["users"]["users"]["root"]
    # An empty hash allows login (users-groups.nix `allowsLogin`): the assertion holds.
    assert unwrap(root["initialHashedPassword"]) == ""


# --- item 2: consoles -------------------------------------------------------------------------


def test_console_units_are_only_ever_masked(lint: dict[str, Any]) -> None:
    """Defining a template instance writes a whole unit that shadows the template (nixos/lib/
    systemd-lib.nix generateUnits; nixpkgs issue 429775); only `enable = false` (a mask) is safe."""
    for where, name, unit in every_unit(lint):
        if "@" in name or name in CONSOLE_UNITS:
            assert unit == {"enable": False}, (where, name, unit)


@pytest.mark.parametrize("scenario", ["cvm-sev-snp-production", "cvm-tdx-production"])
def test_production_masks_every_console_unit(lint: dict[str, Any], scenario: str) -> None:
    # getty.target.wants/autovt@tty1 is linked by nixos/lib/systemd-lib.nix itself, and
    # systemd-getty-generator instantiates serial-getty@: masking the templates covers both.
    assert set(services(definitions(lint, scenario))) >= CONSOLE_UNITS


def test_debug_defines_no_console_unit(lint: dict[str, Any]) -> None:
    """nixos/modules/testing/test-instrumentation.nix sets serial-getty@ttyS0 and @hvc0
    `.enable = false` at default priority: any other definition there would conflict."""
    assert not services(definitions(lint, "cvm-qemu-debug"))


# --- item 3 and the VM test's waits -----------------------------------------------------------


def test_the_tamper_unit_runs_before_cryptsetup(lint: dict[str, Any]) -> None:
    luks = services(definitions(lint, "luks-tpm-vm"))["cairn-state-init"]
    cryptsetup_unit = luks["requiredBy"][0]
    tamper = services(lint["vmTest"]["nodes"]["machine"]["definitions"])["cairn-test-tamper-pcr7"]
    assert cryptsetup_unit in tamper["wantedBy"], "nothing pulls the tamper unit in"
    assert cryptsetup_unit in tamper["before"]
    assert tamper["serviceConfig"]["Type"] == "oneshot"
    assert tamper["serviceConfig"]["RemainAfterExit"] is True
    assert tamper["unitConfig"]["DefaultDependencies"] is False


def test_every_oneshot_the_vm_test_waits_for_remains_active(lint: dict[str, Any]) -> None:
    waited = set(re.findall(r'wait_for_unit\("([^"]+)\.service"\)', lint["vmTest"]["testScript"]))
    assert {"cairn-state-init", "cairn-test-tamper-pcr7", "cairn-export-simulated-root"} <= waited
    for where, name, unit in every_unit(lint):
        config = unit.get("serviceConfig", {})
        if name in waited and config.get("Type") == "oneshot":
            assert config.get("RemainAfterExit") is True, (where, name)


# --- item 4: the simulated root -------------------------------------------------------------


def test_the_simulated_root_goes_to_stdout_through_the_script(lint: dict[str, Any]) -> None:
    script = lint["modules"]["agent-simulated"]["exportRootScript"]
    assert "/bin/cairn-export-root --config " in script
    assert "--user cairn-agent" in script
    assert "/dev/stdout" not in script
    guest = (REPO_ROOT / "scripts" / "guest" / "cairn-export-root").read_text()
    assert 'export-root --config "$config" -o -)' in guest
    export = services(lint["configurations"]["cvm-qemu"]["definitions"])[
        "cairn-export-simulated-root"
    ]
    assert export["serviceConfig"]["StandardOutput"] == "truncate:/tmp/xchg/simulated-root.pem"
    assert export["serviceConfig"]["User"] == "cairn-agent"
    assert "cairn-agent.service" in export["before"]


# --- item 5: no lockdown claim ----------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario", ["cvm-sev-snp-production", "cvm-tdx-production", "cvm-qemu-debug"]
)
def test_no_lockdown_parameter(lint: dict[str, Any], scenario: str) -> None:
    params = definitions(lint, scenario)["boot"]["kernelParams"]
    assert not [p for p in params if p.startswith("lockdown=")], params


def test_kernel_hardening_that_works_without_module_signing(lint: dict[str, Any]) -> None:
    production = definitions(lint, "cvm-sev-snp-production")["security"]
    assert production == {"lockKernelModules": True, "protectKernelImage": True}
    assert "lockKernelModules" not in definitions(lint, "cvm-qemu-debug")["security"]


# --- item 7: loopback forwarding --------------------------------------------------------------


def test_forwarded_ports_bind_loopback_only(lint: dict[str, Any]) -> None:
    forwards = lint["configurations"]["cvm-qemu"]["definitions"]["virtualisation"]["forwardPorts"]
    assert forwards, "cvm-qemu forwards the agent"
    for rule in forwards:
        # qemu-vm.nix: host.address defaults to "", and hostfwd with an empty address binds
        # every host interface.
        assert rule["host"]["address"] == "127.0.0.1", rule


# --- item 8: service keys before the agent ----------------------------------------------------


@pytest.mark.parametrize("service", ["echo-cpp", "echo-rust"])
def test_services_make_their_keys_before_starting(lint: dict[str, Any], service: str) -> None:
    defs = definitions(lint, f"{service}-with-agent")
    unit = services(defs)[service]
    pre, start = unit["serviceConfig"]["ExecStartPre"], unit["serviceConfig"]["ExecStart"]
    assert "/bin/cairn-service-key " in pre
    assert not pre.startswith("+"), "the key must be made as the service's user, not root"
    for flag in ("--state-dir", "--public-key-file"):
        assert option_list(pre, flag) == option_list(start, flag)
    assert unit["before"] == ["cairn-agent.service"]
    assert unit["requiredBy"] == ["cairn-agent.service"]
    registered = defs["services"]["cairn-agent"]["services"][service]
    assert registered["publicKeyFile"] == option_list(start, "--public-key-file")


def test_only_the_root_goes_into_the_exported_file(lint: dict[str, Any]) -> None:
    # StandardError= defaults to inherit: without this, the agent's log lines (stderr) end up in
    # simulated-root.pem before the PEM (seen booting ./dev vm).
    unit = services(lint["configurations"]["cvm-qemu"]["definitions"])[
        "cairn-export-simulated-root"
    ]
    assert unit["serviceConfig"]["StandardOutput"].startswith("truncate:")
    assert unit["serviceConfig"]["StandardError"] == "journal"


# --- item 9: crash-safe first boot, refusals ---------------------------------------------------


@pytest.mark.parametrize("scenario", ["luks-tpm-vm", "luks-tpm-hardware"])
def test_the_volume_is_opened_only_after_state_init_succeeded(
    lint: dict[str, Any], scenario: str
) -> None:
    defs = definitions(lint, scenario)
    crypttab = defs["environment"]["etc"]["crypttab"]["text"].split()
    mapper, device, key, options = crypttab
    assert key == "-" and "headless=true" in options and "tpm2-device=auto" in options
    init = services(defs)["cairn-state-init"]
    cryptsetup_unit = "systemd-cryptsetup@" + mapper.replace("-", "\\x2d") + ".service"
    assert init["requiredBy"] == [cryptsetup_unit], "a failed state-init must keep it closed"
    assert init["before"] == [cryptsetup_unit]
    command = init["serviceConfig"]["ExecStart"]
    assert "/bin/cairn-state-init " in command
    assert option_list(command, "--device") == device
    assert init["environment"]["TMPDIR"] == "/run/" + init["serviceConfig"]["RuntimeDirectory"]
    assert init["serviceConfig"]["RemainAfterExit"] is True
    assert defs["fileSystems"]["/var/lib/cairn"]["device"] == f"/dev/mapper/{mapper}"
    assert ("virtualisation" in defs) == (scenario == "luks-tpm-vm")


@pytest.mark.parametrize("scenario", ["luks-tpm-vm", "luks-tpm-hardware"])
def test_the_file_system_is_made_after_cryptsetup_not_by_makefs(
    lint: dict[str, Any], scenario: str
) -> None:
    # systemd's 99-systemd.rules marks an opened dm-crypt device without a file system
    # SYSTEMD_READY=0, and systemd-makefs@ (fstab x-systemd.makefs, NixOS autoFormat) waits for
    # that device: on a new volume nothing is ever formatted or mounted (seen booting ./dev vm).
    defs = definitions(lint, scenario)
    fs = defs["fileSystems"]["/var/lib/cairn"]
    assert not fs.get("autoFormat"), "x-systemd.makefs never runs on a new dm-crypt volume"
    assert "x-systemd.makefs" not in fs["options"]
    mkfs = services(defs)["cairn-state-mkfs"]
    cryptsetup_unit = services(defs)["cairn-state-init"]["requiredBy"][0]
    assert mkfs["requires"] == [cryptsetup_unit] and mkfs["after"] == [cryptsetup_unit]
    assert not any(unit.endswith(".device") for unit in mkfs["after"] + mkfs["requires"])
    assert mkfs["requiredBy"] == ["var-lib-cairn.mount"] and mkfs["before"] == [
        "var-lib-cairn.mount"
    ]
    command = mkfs["serviceConfig"]["ExecStart"]
    assert "/bin/cairn-state-mkfs " in command
    assert option_list(command, "--device") == fs["device"]
    assert mkfs["serviceConfig"]["RemainAfterExit"] is True


# --- item 11: modules without the agent ------------------------------------------------------


@pytest.mark.parametrize("scenario", ["echo-cpp-without-agent", "cvm-without-agent"])
def test_modules_do_not_need_the_agent_module(lint: dict[str, Any], scenario: str) -> None:
    defs = definitions(lint, scenario)
    assert "cairn-agent" not in defs.get("services", {}), defs.get("services")
    for _, unit in services(defs).items():
        assert "cairn-agent.service" not in unit.get("requiredBy", []) + unit.get("before", [])


# --- the system claim must not drift ----------------------------------------------------------


def test_no_unit_runs_anything_through_a_movable_link(lint: dict[str, Any]) -> None:
    for where, name, unit in every_unit(lint):
        for key, value in unit.get("serviceConfig", {}).items():
            if key.startswith("Exec"):
                assert "/run/current-system" not in str(value), (where, name, key, value)


def test_the_agent_hashes_the_booted_system(lint: dict[str, Any]) -> None:
    assert lint["modules"]["agent-simulated"]["toml"]["system"] == {"path": "/run/booted-system"}


@pytest.mark.parametrize("scenario", ["cvm-sev-snp-production", "cvm-qemu-debug"])
def test_no_nix_daemon_and_no_switching(lint: dict[str, Any], scenario: str) -> None:
    defs = definitions(lint, scenario)
    assert unwrap(defs["nix"]["enable"]) is False
    assert unwrap(defs["system"]["switch"]["enable"]) is False


# --- item 10: OVMF -------------------------------------------------------------------------------


def test_ovmf_firmware_is_a_path_in_its_output(lint: dict[str, Any]) -> None:
    ovmf = lint["packages"]["ovmf-amdsev"]
    assert ovmf["firmware"] == ovmf["storePath"] + "/FV/OVMF.fd"
    assert ovmf["outputs"] == ["out"] and ovmf["hasVariables"] is False
    assert ovmf["projectDscPath"] == "OvmfPkg/AmdSev/AmdSevX64.dsc"
    assert "s/-Werror//g" in ovmf["postConfigure"]
    command = lint["packages"]["reference-values"]["buildCommand"]
    assert f"--ovmf {ovmf['firmware']} " in command


# --- issue 14: reference values and cloud images ----------------------------------------------


def test_the_tdx_reference_values_use_the_tdvf_and_the_boot_bundle(lint: dict[str, Any]) -> None:
    tdvf = lint["packages"]["ovmf-inteltdx"]
    assert tdvf["projectDscPath"] == "OvmfPkg/IntelTdx/IntelTdxX64.dsc"
    assert tdvf["firmware"] == tdvf["storePath"] + "/FV/OVMF.fd"
    command = lint["packages"]["tdx-reference-values"]["buildCommand"]
    assert command.startswith("cairn reference-values --tdx")
    assert f"--firmware {tdvf['firmware']} " in command
    for part in ("/kernel ", "/initrd ", '--append "$(cat /nix/store/', "--memory 4G", "-o $out"):
        assert part in command, part


def test_the_vtpm_reference_values_read_the_uki(lint: dict[str, Any]) -> None:
    command = lint["packages"]["vtpm-reference-values"]["buildCommand"]
    assert "cairn reference-values --uki /nix/store/" in command
    assert "--bank sha256 --phase ready -o $out" in command


def test_the_cloud_image_boots_only_the_uki_and_holds_the_system(lint: dict[str, Any]) -> None:
    cloud = lint["modules"]["cloud"]
    assert cloud["imports"] == [
        "/nix/store/00000000000000000000000000000000-nixpkgs-stub/nixos/modules/image/repart.nix"
    ]
    partitions = cloud["definitions"]["image"]["repart"]["partitions"]
    esp, root = partitions["10-esp"], partitions["20-root"]
    assert list(esp["contents"]) == ["/EFI/BOOT/BOOTX64.EFI"]  # the firmware's fallback path
    assert esp["contents"]["/EFI/BOOT/BOOTX64.EFI"]["source"].endswith("-nixos-uki/nixos_25.11.efi")
    assert esp["repartConfig"]["Type"] == "esp" and esp["repartConfig"]["Format"] == "vfat"
    assert root["storePaths"] == [
        "/nix/store/60f5368c820301076c8987dec0b87a94-nixos-system-cairn-cvm-cloud"
    ]
    assert root["repartConfig"]["Label"] == "nixos"
    assert cloud["definitions"]["fileSystems"]["/"]["device"] == "/dev/disk/by-label/nixos"
    configuration = lint["configurations"]["cvm-cloud"]
    assert configuration["imports"][-1].endswith("/nixos/modules/cloud.nix")
    assert configuration["definitions"]["cairn"]["cloud"]["enable"] is True


def test_each_cloud_gets_its_import_format(lint: dict[str, Any]) -> None:
    images = lint["packages"]["cloud-images"]
    assert (
        "-o subformat=fixed,force_size -O vpc disk.raw $out/disk.vhd"
        in images["azure"]["buildCommand"]
    )
    assert 'qemu-img resize -f raw disk.raw "$mib"' in images["azure"]["buildCommand"]
    assert "tar --format=oldgnu -Sc disk.raw | gzip -9 >" in images["gcp"]["buildCommand"]
    assert "qemu-img convert -f raw -O vpc disk.raw $out/disk.vhd" in images["aws"]["buildCommand"]
    for image in images.values():
        assert "/cairn-cvm-cloud.raw disk.raw" in image["buildCommand"]


# --- item 12: zk in the Nix package -------------------------------------------------------------


def test_the_verifier_package_guards_zk(lint: dict[str, Any]) -> None:
    fixup = lint["packages"]["cairn-verifier"]["postFixup"]
    assert "cairn-zk-unavailable.bash $out/bin/cairn" in fixup
    assert "--replace-fail @cairn@ $out/bin/.cairn-python" in fixup


def _guard(tmp_path: Path) -> Path:
    """nixos/pkgs/cairn-zk-unavailable.bash as the package substitutes it, over the real cairn."""
    cairn = subprocess.run(["which", "cairn"], capture_output=True, text=True, check=False)
    if cairn.returncode != 0:
        pytest.fail("cairn is not on PATH: run the tests through ./dev test")
    source = (REPO_ROOT / "nixos" / "pkgs" / "cairn-zk-unavailable.bash").read_text()
    guard = tmp_path / "cairn"
    guard.write_text(source.replace("@cairn@", cairn.stdout.strip()))
    guard.chmod(0o755)
    return guard


def test_cairn_zk_says_it_is_unavailable(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(_guard(tmp_path)), "zk", "verify", "proof.json"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 64
    assert "cairn zk: not available in the Nix package" in done.stderr
    assert done.stdout == ""


def test_other_commands_pass_through(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(_guard(tmp_path)), "--version"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0
    assert done.stdout.startswith("cairn ")


# --- the packages that run the scripts -------------------------------------------------------


def test_every_guest_script_is_packaged_and_shellchecked(lint: dict[str, Any]) -> None:
    package = lint["packages"]["cairn-guest-scripts"]
    assert package["src"] == str(REPO_ROOT / "scripts" / "guest")
    for script in (REPO_ROOT / "scripts" / "guest").iterdir():
        assert f"install -Dm755 {script.name} $out/bin/{script.name}" in package["installPhase"]
        assert f"$src/{script.name}" in package["installCheckPhase"]


def test_run_vm_runs_the_script_with_the_vm(lint: dict[str, Any]) -> None:
    package = lint["packages"]["run-vm"]
    assert package["src"] == str(REPO_ROOT / "scripts" / "cairn-run-vm")
    assert "--set CAIRN_VM_RUNNER " in package["installPhase"]
    assert "/bin/run-cairn-cvm-qemu-vm" in package["installPhase"]


# --- general unit lint ---------------------------------------------------------------------------


def test_unit_options_and_directives_are_known(lint: dict[str, Any]) -> None:
    for where, name, unit in every_unit(lint):
        assert set(unit) <= NIXOS_SERVICE_OPTIONS, (where, name, set(unit) - NIXOS_SERVICE_OPTIONS)
        unknown = set(unit.get("serviceConfig", {})) - SERVICE_DIRECTIVES
        assert not unknown, (where, name, unknown)
        unknown = set(unit.get("unitConfig", {})) - UNIT_DIRECTIVES
        assert not unknown, (where, name, unknown)
        for key in ("wantedBy", "requiredBy", "before", "after", "wants", "requires"):
            for target in unit.get(key, []):
                assert re.fullmatch(r"[A-Za-z0-9@%:_.\\-]+\.(service|target|device|mount)", target)


def test_declared_option_types_hold(lint: dict[str, Any]) -> None:
    for where, scenario in lint["modules"].items():
        assert scenario["declaredTypeErrors"] == [], where


def test_agent_capabilities_follow_the_provider(lint: dict[str, Any]) -> None:
    simulated = services(definitions(lint, "agent-simulated"))["cairn-agent"]["serviceConfig"]
    assert simulated["CapabilityBoundingSet"] == [""]
    assert simulated["AmbientCapabilities"] == []
    auto = services(definitions(lint, "agent-auto"))["cairn-agent"]["serviceConfig"]
    assert auto["CapabilityBoundingSet"] == ["CAP_DAC_OVERRIDE"]
    assert auto["ReadWritePaths"] == ["-/sys/kernel/config/tsm"]
