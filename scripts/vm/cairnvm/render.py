"""The guest's Cairn files for Debian, rendered from the NixOS evaluation (:mod:`.nixos`).

Every unit, the agent's TOML, the services manifest, users, udev rules, crypttab and the state
file system come from what the NixOS modules define for cvm-qemu, rendered the way nixpkgs
renders them (``nixos/lib/systemd-lib.nix``: ``attrsToSection``, ``true``/``false``, one line per
list element, ``wantedBy``/``requiredBy`` as ``.wants``/``.requires`` links;
``nixos/modules/tasks/filesystems.nix``: ``autoFormat`` is ``x-systemd.makefs``). Nix store paths
are replaced by where this image installs the same thing (:class:`Placement`); a store path the
renderer does not know, or a unit option it does not render, is an error, so a change to the
modules cannot be dropped silently.

What differs from NixOS is listed in :data:`DEBIAN_DIFFERENCES`: how the tamper unit is
triggered (the host cannot reach into the guest as the NixOS test driver does), and two
behaviours of Debian 12's older systemd. The rest of this module's
output (:func:`debian_files`) is what NixOS provides by itself: the root and xchg mounts of
qemu-vm.nix, ``/run/booted-system``, networking, and the test probe the host reads.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UNIT_DIR = "/etc/systemd/system"
OPT = "/opt/cairn"
GUEST_SCRIPTS = f"{OPT}/guest-scripts"
AGENT_VENV = f"{OPT}/agent"
AGENT_BIN = f"{AGENT_VENV}/bin/cairn-agent"
AGENT_CONFIG = "/etc/cairn/agent.toml"
SERVICES_MANIFEST = "/etc/cairn/services.json"
PROBE = f"{OPT}/vm/cairn-vm-probe"
XCHG = "/tmp/xchg"
XCHG_TAG = "xchg"
PROBE_REPORT = f"{XCHG}/probe.json"
ROOT_DEVICE = "/dev/vda"
TAMPER_UNIT = "cairn-test-tamper-pcr7"
TAMPER_FLAG = "cairn.test-tamper-pcr7"
"""Kernel command-line word that makes the tamper unit run (the NixOS test uses a flag file)."""
GUEST_ADDRESS = "10.0.2.15"
GUEST_GATEWAY = "10.0.2.2"

DEBIAN_DIFFERENCES = (
    f"{TAMPER_UNIT}: ConditionPathExists=<flag file> becomes ConditionKernelCommandLine="
    f"{TAMPER_FLAG}: the host sets it on the third boot's command line instead of creating the "
    "file through the NixOS test driver's shell",
    "crypttab tpm2-measure-pcr=yes needs systemd >= 253; Debian 12's systemd 252 logs that it "
    "ignores the option, so the volume key is not measured into PCR 15 on this image",
    "systemd 252 re-applies StateDirectoryMode=0755 to the echo services' existing private key "
    "directories whenever it starts their processes, so they end up 0755 instead of the 0700 "
    "cairn-service-key sets (later systemd keeps it); signing.key stays 0600 and the service's",
)

# The NixOS service options this renderer understands (nixos/lib/systemd-unit-options.nix).
_UNIT_LISTS = {
    "requires": "Requires",
    "wants": "Wants",
    "after": "After",
    "before": "Before",
    "bindsTo": "BindsTo",
    "partOf": "PartOf",
    "conflicts": "Conflicts",
}
_RENDERED_OPTIONS = {
    "description",
    "wantedBy",
    "requiredBy",
    "environment",
    "serviceConfig",
    "unitConfig",
    *_UNIT_LISTS,
}
_STORE_PATH = re.compile(r"/nix/store/[0-9a-z]{32}-(?P<name>[A-Za-z0-9+._?=-]+)")
_VERSIONED = re.compile(r"^(?P<pname>.+?)-[0-9][0-9A-Za-z.]*$")


class RenderError(Exception):
    """The NixOS data holds something this renderer cannot place or render."""


@dataclass(frozen=True)
class GuestFile:
    """A file, or a symlink when ``symlink`` is set, at an absolute path in the guest."""

    path: str
    data: bytes = b""
    mode: int = 0o644
    symlink: str | None = None


@dataclass(frozen=True)
class Placement:
    """Where this image installs what the NixOS configuration takes from the Nix store.

    ``system`` and ``services`` are the Nix-store-shaped paths the image itself carries (the
    agent attests store paths): the system directory and each echo service's package directory.
    """

    system: str
    services: Mapping[str, str]
    fixed: Mapping[str, str] = field(
        default_factory=lambda: {
            "cairn-guest-scripts": GUEST_SCRIPTS,
            "cairn-agent": AGENT_VENV,
            "cairn-agent.toml": AGENT_CONFIG,
            "cairn-services.json": SERVICES_MANIFEST,
            "cairn-export-root": "/usr/local",
            "tpm2-tools": "/usr",
            "coreutils": "/usr",
        }
    )

    def place(self, store_name: str) -> str:
        """The guest path standing for the store object named ``store_name``."""
        match = _VERSIONED.match(store_name)
        pname = match["pname"] if match else store_name
        for name in (store_name, pname):
            if name in self.fixed:
                return self.fixed[name]
            if name in self.services:
                return self.services[name]
        raise RenderError(
            f"the NixOS configuration uses the store object {store_name!r}, which this image does "
            "not install: add it to cairnvm.render.Placement"
        )

    def rewrite(self, text: str) -> str:
        """``text`` with every Nix store path replaced by its guest path."""
        return _STORE_PATH.sub(lambda m: self.place(m["name"]), text)


def _option(value: Any) -> str:
    """nixpkgs' ``toOption``."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise RenderError(f"cannot render unit value {value!r}")


def _section(entries: Mapping[str, Any], placement: Placement) -> str:
    """nixpkgs' ``attrsToSection``: names sorted, one line per list element."""
    lines = []
    for name in sorted(entries):
        value = entries[name]
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{name}={placement.rewrite(_option(item))}\n")
    return "".join(lines)


def unit_text(name: str, unit: Mapping[str, Any], placement: Placement) -> str:
    """A NixOS ``systemd.services.<name>`` definition as a unit file."""
    unknown = set(unit) - _RENDERED_OPTIONS
    if unknown:
        raise RenderError(
            f"{name}.service uses NixOS options this renderer does not: {sorted(unknown)}"
        )
    unit_section: dict[str, Any] = dict(unit.get("unitConfig", {}))
    if unit.get("description"):
        unit_section["Description"] = unit["description"]
    for option, directive in _UNIT_LISTS.items():
        if unit.get(option):
            unit_section[directive] = " ".join(unit[option])
    environment = "".join(
        f'Environment="{key}={placement.rewrite(str(value))}"\n'
        for key, value in sorted(unit.get("environment", {}).items())
    )
    return (
        f"# Rendered from the NixOS definition of {name}.service (scripts/vm: cairnvm.render).\n"
        f"[Unit]\n{_section(unit_section, placement)}\n"
        f"[Service]\n{environment}{_section(unit.get('serviceConfig', {}), placement)}"
    )


def unit_files(name: str, unit: Mapping[str, Any], placement: Placement) -> list[GuestFile]:
    """The unit file and its ``wantedBy``/``requiredBy`` links (as NixOS makes them)."""
    filename = f"{name}.service"
    path = f"{UNIT_DIR}/{filename}"
    files = [GuestFile(path, unit_text(name, unit, placement).encode())]
    for option, kind in (("wantedBy", "wants"), ("requiredBy", "requires")):
        for target in unit.get(option, []):
            files.append(GuestFile(f"{UNIT_DIR}/{target}.{kind}/{filename}", symlink=path))
    return files


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise RenderError(f"cannot write {value!r} as a TOML value")


def toml_text(settings: Mapping[str, Mapping[str, Any]]) -> str:
    """The agent's TOML (tables of scalars and arrays, as ``pkgs.formats.toml`` writes them)."""
    parts = []
    for table in sorted(settings):
        rows = "".join(
            f"{key} = {_toml_value(value)}\n" for key, value in sorted(settings[table].items())
        )
        parts.append(f"[{table}]\n{rows}")
    return "\n".join(parts)


def _map_strings(value: Any, placement: Placement) -> Any:
    if isinstance(value, str):
        return placement.rewrite(value)
    if isinstance(value, list):
        return [_map_strings(item, placement) for item in value]
    if isinstance(value, dict):
        return {key: _map_strings(item, placement) for key, item in value.items()}
    return value


def agent_settings(nixos: Mapping[str, Any], placement: Placement) -> dict[str, Any]:
    """The agent's configuration as the module writes it, with this image's paths."""
    settings: dict[str, Any] = _map_strings(nixos["agent"]["settings"], placement)
    return settings


def services_manifest(nixos: Mapping[str, Any], placement: Placement) -> dict[str, Any]:
    """The manifest the agent module writes (``mapAttrsToList``: sorted by name)."""
    registered = nixos["agent"]["registeredServices"]
    return {
        "services": [
            {
                "name": name,
                "store_path": placement.rewrite(registered[name]["storePath"]),
                "public_key_file": registered[name]["publicKeyFile"],
            }
            for name in sorted(registered)
        ]
    }


def sysusers_text(definitions: Iterable[Mapping[str, Any]]) -> str:
    """users.users / users.groups (system users, each in its own group) as sysusers.d lines."""
    groups: set[str] = set()
    users: dict[str, Mapping[str, Any]] = {}
    for defs in definitions:
        groups |= set(defs.get("users", {}).get("groups", {}))
        users.update(defs.get("users", {}).get("users", {}))
    lines = []
    for name in sorted(users):
        user = users[name]
        if not user.get("isSystemUser") or user.get("group") != name:
            raise RenderError(
                f"user {name}: only system users in a group of their own name are rendered"
            )
        lines.append(f'u {name} - "{user.get("description", name)}" - -\n')
    for group in sorted(groups - set(users)):
        lines.append(f"g {group} -\n")
    for name in sorted(users):
        lines.extend(f"m {name} {group}\n" for group in users[name].get("extraGroups", []))
    return "# Rendered from the NixOS modules' users.users and users.groups.\n" + "".join(lines)


def fstab_line(mount_point: str, fs: Mapping[str, Any]) -> str:
    """A NixOS ``fileSystems`` entry as nixpkgs writes it into /etc/fstab."""
    options = list(fs.get("options", ["defaults"]))
    if fs.get("autoFormat"):
        options.append("x-systemd.makefs")
    passno = "1" if mount_point == "/" else "2"
    return f"{fs['device']} {mount_point} {fs['fsType']} {','.join(options)} 0 {passno}\n"


def tamper_unit(nixos: Mapping[str, Any]) -> dict[str, Any]:
    """The NixOS test's tamper unit, conditioned on the kernel command line instead of a file."""
    unit: dict[str, Any] = json.loads(json.dumps(nixos["vmTest"]["tamperUnit"]))
    unit_config = unit.setdefault("unitConfig", {})
    if "ConditionPathExists" not in unit_config:
        raise RenderError(f"{TAMPER_UNIT}: expected ConditionPathExists in the NixOS test's unit")
    del unit_config["ConditionPathExists"]
    unit_config["ConditionKernelCommandLine"] = TAMPER_FLAG
    return unit


def services(nixos: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every NixOS service unit of the guest, by name."""
    units: dict[str, Mapping[str, Any]] = {}
    sources = [
        nixos["agent"]["systemd"]["services"],
        nixos["luksTpm"]["systemd"]["services"],
        nixos["configuration"]["systemd"]["services"],
        *(defs["systemd"]["services"] for defs in nixos["services"].values()),
    ]
    for source in sources:
        units.update(source)
    units[TAMPER_UNIT] = tamper_unit(nixos)
    return units


def nixos_files(nixos: Mapping[str, Any], placement: Placement) -> list[GuestFile]:
    """Everything the NixOS modules define for the guest, as Debian files."""
    files: list[GuestFile] = []
    for name, unit in sorted(services(nixos).items()):
        files.extend(unit_files(name, unit, placement))
    files.append(GuestFile(AGENT_CONFIG, toml_text(agent_settings(nixos, placement)).encode()))
    manifest = json.dumps(services_manifest(nixos, placement), separators=(",", ":"))
    files.append(GuestFile(SERVICES_MANIFEST, manifest.encode()))
    wrapper = placement.rewrite(nixos["agent"]["exportRootScript"])
    files.append(
        GuestFile("/usr/local/bin/cairn-export-root", f"#!/bin/bash\n{wrapper}".encode(), 0o755)
    )
    files.append(
        GuestFile(
            "/etc/udev/rules.d/99-cairn.rules",
            nixos["agent"]["services"]["udev"]["extraRules"].encode(),
        )
    )
    users = [nixos["agent"], *nixos["services"].values()]
    files.append(GuestFile("/usr/lib/sysusers.d/cairn.conf", sysusers_text(users).encode()))
    files.append(GuestFile("/etc/crypttab", nixos["luksTpm"]["crypttab"].encode()))
    return files


def fstab(nixos: Mapping[str, Any]) -> str:
    """/etc/fstab: qemu-vm.nix's root disk and xchg share, then the NixOS modules' file systems."""
    lines = [
        "# Root disk and host share as qemu-vm.nix mounts them, then the modules' file systems.\n",
        f"{ROOT_DEVICE} / ext4 rw,errors=remount-ro 0 1\n",
        f"{XCHG_TAG} {XCHG} 9p trans=virtio,version=9p2000.L,msize=104857600,"
        "x-systemd.after=systemd-modules-load.service 0 0\n",
    ]
    for mount_point, fs in sorted(nixos["luksTpm"]["fileSystems"].items()):
        lines.append(fstab_line(mount_point, fs))
    return "".join(lines)


PROBE_UNIT = f"""\
# Test instrumentation (Debian image only): once every Cairn unit has finished starting or
# failed, record what the NixOS VM test asks the guest through its shell, for the host to read
# from the xchg share ({PROBE_REPORT}).
[Unit]
Description=Report the Cairn units' state to the host (test probe)
After=cairn-state-init.service systemd-cryptsetup@cairn\\x2dstate.service var-lib-cairn.mount
After=echo-cpp.service echo-rust.service cairn-agent.service cairn-export-simulated-root.service
After={TAMPER_UNIT}.service cairn-state-key.service cairn-state-key-forget.service
RequiresMountsFor={XCHG}

[Service]
Type=oneshot
RemainAfterExit=true
ExecStart={PROBE} --output {PROBE_REPORT}
"""

NETWORK = f"""\
# QEMU user networking: the guest is always {GUEST_ADDRESS}, the host's gateway {GUEST_GATEWAY}.
[Match]
Type=ether

[Network]
Address={GUEST_ADDRESS}/24
Gateway={GUEST_GATEWAY}
LinkLocalAddressing=no
IPv6AcceptRA=no
"""

# Timers that would wake up during a test and compete for the two TCG vCPUs.
MASKED_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer")


def debian_files(
    nixos: Mapping[str, Any], system: str, host_name: str | None = None
) -> list[GuestFile]:
    """What NixOS provides by itself and the Debian image must add."""
    name = host_name or nixos["configuration"]["hostName"]
    files = [
        GuestFile("/etc/fstab", fstab(nixos).encode()),
        GuestFile("/etc/hostname", f"{name}\n".encode()),
        GuestFile("/etc/hosts", f"127.0.0.1 localhost\n127.0.1.1 {name}\n".encode()),
        # stage-2-init's /run/booted-system: the system the agent attests.
        GuestFile(
            "/usr/lib/tmpfiles.d/cairn-booted-system.conf",
            f"L+ /run/booted-system - - - - {system}\n".encode(),
        ),
        # 9p for the xchg share, loaded before its mount (fstab: x-systemd.after).
        GuestFile("/etc/modules-load.d/cairn-vm.conf", b"9p\n9pnet_virtio\n"),
        GuestFile("/etc/systemd/network/10-cairn-vm.network", NETWORK.encode()),
        GuestFile(f"{UNIT_DIR}/cairn-vm-probe.service", PROBE_UNIT.encode()),
        GuestFile(
            f"{UNIT_DIR}/multi-user.target.wants/cairn-vm-probe.service",
            symlink=f"{UNIT_DIR}/cairn-vm-probe.service",
        ),
    ]
    files.extend(GuestFile(f"{UNIT_DIR}/{unit}", symlink="/dev/null") for unit in MASKED_UNITS)
    return files


def kernel_command_line(nixos: Mapping[str, Any], *, tamper: bool = False) -> str:
    """The root disk, cvm.nix's kernel parameters, and the tamper flag when asked for."""
    words = [f"root={ROOT_DEVICE}", "rw", *nixos["cvm"]["kernelParams"]]
    if tamper:
        words.append(TAMPER_FLAG)
    return " ".join(shlex.quote(word) for word in words)


def write_tree(files: Iterable[GuestFile], root: Path) -> None:
    """Materialise ``files`` under ``root`` (the guest's ``/``), replacing what is there."""
    for item in files:
        target = root / item.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        if item.symlink is not None:
            target.symlink_to(item.symlink)
        else:
            target.write_bytes(item.data)
            target.chmod(item.mode)
