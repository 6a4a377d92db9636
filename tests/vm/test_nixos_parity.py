"""The Debian guest (scripts/vm) and the NixOS modules stay in step.

The guest's units, agent configuration, services manifest, users, udev rules, crypttab and state
file system are rendered from an evaluation of the NixOS modules (tests/nix/eval/cvm-qemu-guest.nix,
committed as scripts/vm/nixos-cvm-qemu.json). These tests check that the committed evaluation is
current, that every unit the NixOS configuration defines is rendered with every one of its
settings and nothing else (parsing the rendered files back), that the runtime steps are the same
script files, and that the few deliberate differences are exactly the listed ones.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cairnvm import image, nixos, render

from cairn_agent.config import load_config
from cairn_verifier.binding.system_hash import validate_store_path

STORE = "/nix/store/" + "0" * 32
PLACEMENT = render.Placement(
    system=f"{STORE}-cairn-debian-vm-0.1.0",
    services={"echo-cpp": f"{STORE}-echo-cpp-0.1.0", "echo-rust": f"{STORE}-echo-rust-0.1.0"},
)


@pytest.fixture(scope="module", params=nixos.KEY_SOURCES)
def data(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Each committed evaluation (key source tpm and snp-derived): every test runs on both."""
    return nixos.load(request.param)


@pytest.fixture(scope="module")
def files(data: dict[str, Any]) -> dict[str, render.GuestFile]:
    rendered = render.nixos_files(data, PLACEMENT) + render.debian_files(data, PLACEMENT.system)
    paths = [f.path for f in rendered]
    assert len(paths) == len(set(paths)), "two rendered files at one path"
    return {f.path: f for f in rendered}


def parse_unit(text: str) -> Counter[tuple[str, str, str]]:
    """(section, key, value) of every assignment, duplicates counted (systemd's list form)."""
    entries: Counter[tuple[str, str, str]] = Counter()
    section = ""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, value = line.split("=", 1)
        entries[(section, key, value)] += 1
    return entries


def expected_entries(unit: dict[str, Any]) -> Counter[tuple[str, str, str]]:
    """What nixpkgs writes for a NixOS service definition (systemd-lib.nix), store paths placed."""
    entries: Counter[tuple[str, str, str]] = Counter()

    def add(section: str, key: str, value: Any) -> None:
        for item in value if isinstance(value, list) else [value]:
            text = (
                {True: "true", False: "false"}.get(item, item)
                if isinstance(item, bool)
                else str(item)
            )
            entries[(section, key, PLACEMENT.rewrite(text))] += 1

    for key, value in unit.get("unitConfig", {}).items():
        add("Unit", key, value)
    add("Unit", "Description", unit["description"])
    for option, directive in {
        "requires": "Requires",
        "wants": "Wants",
        "after": "After",
        "before": "Before",
    }.items():
        if unit.get(option):
            add("Unit", directive, " ".join(unit[option]))
    for key, value in unit.get("environment", {}).items():
        add("Service", "Environment", f'"{key}={value}"')
    for key, value in unit.get("serviceConfig", {}).items():
        add("Service", key, value)
    return entries


@pytest.mark.parametrize("key_source", nixos.KEY_SOURCES)
def test_the_committed_evaluation_is_current(key_source: str) -> None:
    assert not nixos.stale(key_source), (
        f"{nixos.SNAPSHOTS[key_source].relative_to(nixos.REPO_ROOT)} is stale: the NixOS modules "
        "changed. Run ./dev vm -- nixos-eval --write and commit the result"
    )


def test_every_nixos_unit_is_rendered_with_exactly_its_settings(
    data: dict[str, Any], files: dict[str, render.GuestFile]
) -> None:
    units = render.services(data)
    assert {"cairn-agent", "echo-cpp", "echo-rust", "cairn-state-init", "cairn-state-mkfs",
            "cairn-export-simulated-root", render.TAMPER_UNIT} <= set(units)  # fmt: skip
    for name, unit in units.items():
        rendered = files[f"{render.UNIT_DIR}/{name}.service"].data.decode()
        assert parse_unit(rendered) == expected_entries(unit), name
        assert "/nix/store/" not in rendered.replace(PLACEMENT.services["echo-cpp"], "").replace(
            PLACEMENT.services["echo-rust"], ""
        ), f"{name}: a Nix store path was not placed"
        for option, kind in (("wantedBy", "wants"), ("requiredBy", "requires")):
            for target in unit.get(option, []):
                link = files[f"{render.UNIT_DIR}/{target}.{kind}/{name}.service"]
                assert link.symlink == f"{render.UNIT_DIR}/{name}.service"


def test_the_guest_runs_the_shared_scripts(data: dict[str, Any]) -> None:
    shared = {p.name for p in (nixos.REPO_ROOT / "scripts" / "guest").iterdir()}
    assert set(image.GUEST_SCRIPTS) == shared, "every script of scripts/guest goes into the image"
    commands = [
        unit["serviceConfig"][key]
        for unit in render.services(data).values()
        for key in ("ExecStart", "ExecStartPre")
        if key in unit["serviceConfig"]
    ]
    used = {
        word.rsplit("/", 1)[1]
        for command in [*commands, data["agent"]["exportRootScript"]]
        for word in command.split()
        if "-cairn-guest-scripts-" in word
    }
    assert used == {
        "cairn-state-init",
        "cairn-state-mkfs",
        "cairn-service-key",
        "cairn-export-root",
    }
    for command in commands:
        for word in PLACEMENT.rewrite(command).split():
            if word.startswith(render.GUEST_SCRIPTS):
                assert Path(word).name in shared


def test_the_agent_configuration_is_the_modules(
    data: dict[str, Any], files: dict[str, render.GuestFile], tmp_path: Path
) -> None:
    text = files[render.AGENT_CONFIG].data.decode()
    settings = tomllib.loads(text)
    expected = json.loads(PLACEMENT.rewrite(json.dumps(data["agent"]["settings"])))
    assert settings == expected
    assert settings["services"]["manifest"] == render.SERVICES_MANIFEST
    assert (
        settings["listen"]["host"] == "0.0.0.0" and settings["tee"]["provider"] == "simulated-snp"
    )
    # The agent's own strict loader accepts it (unknown keys or wrong types would be refused).
    config = tmp_path / "agent.toml"
    config.write_text(text)
    assert load_config(config).system.path == Path("/run/booted-system")


def test_the_services_manifest_is_what_the_module_writes(
    data: dict[str, Any], files: dict[str, render.GuestFile]
) -> None:
    manifest = json.loads(files[render.SERVICES_MANIFEST].data)
    registered = data["agent"]["registeredServices"]
    assert [s["name"] for s in manifest["services"]] == sorted(registered)
    for entry in manifest["services"]:
        assert entry["public_key_file"] == registered[entry["name"]]["publicKeyFile"]
        assert entry["store_path"] == PLACEMENT.services[entry["name"]]
        validate_store_path(entry["store_path"])


def test_users_udev_crypttab_and_file_systems(
    data: dict[str, Any], files: dict[str, render.GuestFile]
) -> None:
    sysusers = files["/usr/lib/sysusers.d/cairn.conf"].data.decode().splitlines()
    assert 'u cairn-agent - "Cairn attestation agent" - -' in sysusers
    assert "m cairn-agent cairn-tee" in sysusers and "g cairn-tee -" in sysusers
    assert {"u echo-cpp", "u echo-rust"} <= {" ".join(line.split()[:2]) for line in sysusers}
    assert (
        files["/etc/udev/rules.d/99-cairn.rules"].data.decode()
        == data["agent"]["services"]["udev"]["extraRules"]
    )
    assert files["/etc/crypttab"].data.decode() == data["luksTpm"]["crypttab"]
    fstab = files["/etc/fstab"].data.decode().splitlines()
    state = [line for line in fstab if line.startswith("/dev/mapper/cairn-state ")]
    fs = data["luksTpm"]["fileSystems"]["/var/lib/cairn"]
    assert state == [f"/dev/mapper/cairn-state /var/lib/cairn ext4 {','.join(fs['options'])} 0 2"]
    assert not any("x-systemd.makefs" in line for line in fstab), (
        "makefs never runs on a new dm-crypt volume"
    )


def test_the_tamper_unit_is_the_nixos_tests_own(data: dict[str, Any]) -> None:
    nixos_unit = data["vmTest"]["tamperUnit"]
    debian_unit = render.tamper_unit(data)
    assert nixos_unit["unitConfig"]["ConditionPathExists"]
    assert debian_unit["unitConfig"].pop("ConditionKernelCommandLine") == render.TAMPER_FLAG
    without_condition = {
        **nixos_unit,
        "unitConfig": {
            k: v for k, v in nixos_unit["unitConfig"].items() if k != "ConditionPathExists"
        },
    }
    assert debian_unit == without_condition
    assert "tpm2_pcrextend 7:sha256=" in debian_unit["serviceConfig"]["ExecStart"]


def test_the_vm_has_cvm_qemus_size_disks_ports_and_kernel_parameters(data: dict[str, Any]) -> None:
    virtualisation = data["configuration"]["virtualisation"]
    assert virtualisation["emptyDiskImages"] == [256]
    assert {rule["guest"]["port"] for rule in virtualisation["forwardPorts"]} == {8080, 9001, 9002}
    assert all(rule["host"]["address"] == "127.0.0.1" for rule in virtualisation["forwardPorts"])
    cmdline = render.kernel_command_line(data).split()
    assert cmdline[:2] == ["root=/dev/vda", "rw"] and set(data["cvm"]["kernelParams"]) <= set(
        cmdline
    )
    assert render.TAMPER_FLAG not in cmdline
    assert render.kernel_command_line(data, tamper=True).split()[-1] == render.TAMPER_FLAG


def test_the_listed_differences_are_the_only_ones(data: dict[str, Any]) -> None:
    # If a new difference is needed, it is added to DEBIAN_DIFFERENCES (and docs/nix.md) first.
    assert len(render.DEBIAN_DIFFERENCES) == 3
    # The PCR 15 difference concerns the TPM key source only (a key file is not measured).
    tpm = data["configuration"]["luksTpm"].get("keySource", "tpm") == "tpm"
    assert data["luksTpm"]["crypttab"].count("tpm2-measure-pcr=yes") == (1 if tpm else 0)


def test_unknown_store_paths_and_unit_options_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(render.RenderError, match="does not install"):
        PLACEMENT.rewrite(f"{STORE[:-1]}1-some-new-tool-1.0/bin/x")
    unit = {**data["agent"]["systemd"]["services"]["cairn-agent"], "script": "echo hi"}
    with pytest.raises(render.RenderError, match="script"):
        render.unit_text("cairn-agent", unit, PLACEMENT)
