"""The guest image: Debian packages (mmdebstrap) plus this checkout's agent, services and units.

Two cached layers under the cache directory, each named by the hash of its inputs:

* ``base-<key>.tar``: a minimal Debian 12 root (``--variant=minbase`` plus :data:`PACKAGES`),
  with an initramfs that holds only what mounting the virtio root disk needs. Its key covers the
  suite, the mirrors, the package list, dpkg's path filters and the initramfs settings. Debian
  updates published later do not change it: delete the file to pick them up.
* ``image-<key>/``: ``root.img`` (ext4, made with ``mke2fs -d``, no loop device), ``vmlinuz``,
  ``initrd.img`` and ``manifest.json``. Its key adds the sources installed into the image (the
  agent and verifier with their pinned requirements, both echo services, ``scripts/guest/``, the
  NixOS evaluation and the renderer).

In the image: the agent and verifier in a venv at /opt/cairn/agent, installed with the guest's
own Python from wheels built on the host (``pip wheel``; no network in the guest); the echo
services built on the host by ``scripts/build_services.sh``; ``scripts/guest/`` unchanged at
/opt/cairn/guest-scripts/bin; and the units and configuration rendered from the NixOS modules
(:mod:`.render`). Binaries built on the host run in the guest, so the host must be Debian 12
too (checked).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import inputs, nixos, render
from .steps import StepError, Steps

REPO_ROOT = nixos.REPO_ROOT
SUITE = "bookworm"
GUEST_PYTHON = (3, 11)
MIRRORS = (
    f"deb http://deb.debian.org/debian {SUITE} main",
    f"deb http://deb.debian.org/debian {SUITE}-updates main",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main",
)
PACKAGES = (
    # boot: init, device manager, the kernel and its initramfs tools, ACPI power button (logind)
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "kmod",
    "linux-image-amd64",
    "initramfs-tools",
    # scripts/guest/cairn-state-init: cryptsetup, systemd-cryptenroll (systemd), blkid, jq; the
    # TSS2 libraries systemd-cryptsetup loads for tpm2-device=auto come with tpm2-tools, which
    # the NixOS test's tamper unit also runs (tpm2_pcrextend)
    "cryptsetup-bin",
    "dmsetup",  # device-mapper's udev rules: without them /dev/mapper/cairn-state never gets ready
    "tpm2-tools",
    "jq",
    "e2fsprogs",
    # scripts/guest/cairn-service-key, and the echo services' libraries
    "openssl",
    "libssl3",
    "libsecp256k1-1",
    # the agent: Python 3.11 and a venv
    "python3",
    "python3-venv",
)
DPKG_FILTERS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
INITRAMFS_MODULES = ("virtio_pci", "virtio_blk", "crc32c_generic", "ext4")
IMAGE_SIZE = "2G"
# What goes into the image from this checkout (its key).
IMAGE_SOURCES = (
    "agent",
    "verifier",
    "requirements/runtime.txt",
    "requirements/agent.txt",
    "services/echo-cpp",
    "services/echo-rust",
    "scripts/build_services.sh",
    "scripts/guest",
    "scripts/vm/guest",
    "scripts/vm/nixos-cvm-qemu.json",
    "scripts/vm/nixos-cvm-qemu-snp-derived.json",
    "scripts/vm/cairnvm/render.py",
    "scripts/vm/cairnvm/image.py",
    "scripts/vm/cairnvm/inputs.py",
)
WHEEL_SOURCES = ("agent", "verifier", "requirements/runtime.txt", "requirements/agent.txt")
SERVICES = ("echo-cpp", "echo-rust")
GUEST_SCRIPTS = (
    "cairn-state-init",
    "cairn-state-mkfs",
    "cairn-service-key",
    "cairn-export-root",
    "cairn-gpu-check",  # installed like the others; the cvm-qemu twin has no GPU unit that runs it
)
LAYOUT_VERSION = 1
"""Bump when the build procedure changes in a way the listed sources do not show."""


@dataclass(frozen=True)
class Image:
    """A built image: its files and what the host needs to know about it."""

    directory: Path
    manifest: dict[str, Any]

    @property
    def root(self) -> Path:
        return self.directory / "root.img"

    @property
    def kernel(self) -> Path:
        return self.directory / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.directory / "initrd.img"

    @property
    def system(self) -> str:
        return str(self.manifest["system"])

    @property
    def service_store_paths(self) -> dict[str, str]:
        return dict(self.manifest["services"])


def run(
    argv: Sequence[str | Path],
    *,
    log: Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Run a build command, appending its output to ``log``; on failure show the log's tail."""
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(map(str, argv))}\n".encode())
        out.flush()
        done = subprocess.run(
            [str(a) for a in argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            check=False,
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise StepError(
            f"{Path(str(argv[0])).name} failed (exit {done.returncode}); full log: {log}", tail
        )


def check_host(
    python: tuple[int, ...] = tuple(sys.version_info[:2]), release: Path = Path("/etc/os-release")
) -> None:
    """Binaries and wheels built here run in the Debian 12 guest: the host must match."""
    fields: dict[str, str] = {}
    if release.is_file():
        for line in release.read_text().splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                fields[key] = value.strip().strip('"')
    if fields.get("VERSION_CODENAME") != SUITE:
        raise StepError(
            f"this host is {fields.get('PRETTY_NAME', 'not Debian')}; the echo services and the "
            "agent's "
            f"wheels are built here for the Debian 12 ({SUITE}) guest, so build on Debian 12"
        )
    if tuple(python) != GUEST_PYTHON:
        raise StepError(
            f"this Python is {'.'.join(map(str, python))}; the guest's is "
            f"{GUEST_PYTHON[0]}.{GUEST_PYTHON[1]} and the wheels must match it "
            "(run ./dev with CAIRN_PYTHON=/usr/bin/python3.11)"
        )
    missing = [
        tool
        for tool in (
            "mmdebstrap",
            "mke2fs",
            "tar",
            "chroot",
            "unshare",
            "systemd-sysusers",
            "passwd",
            "qemu-img",
        )
        if shutil.which(tool) is None
    ]
    if missing:
        raise StepError(
            f"missing tools: {', '.join(missing)} (./dev setup base tpm services vm installs them)"
        )
    if os.geteuid() != 0:
        raise StepError(
            "building the image needs root (mmdebstrap, chroot, file ownership in the image)"
        )


def _version_of(service: str) -> str:
    if service == "echo-cpp":
        text = (REPO_ROOT / "services/echo-cpp/CMakeLists.txt").read_text()
        match = re.search(r"project\(cairn_echo_cpp VERSION ([0-9.]+) ", text)
        if match is None:
            raise StepError("no version in services/echo-cpp/CMakeLists.txt's project()")
        return match[1]
    cargo = tomllib.loads((REPO_ROOT / f"services/{service}/Cargo.toml").read_text())
    return str(cargo["package"]["version"])


def _mmdebstrap_version() -> str:
    done = subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


def _replace_others(cache: Path, pattern: str, keep: Path) -> None:
    """Delete older cache entries of one kind (only the current one is kept)."""
    for old in cache.glob(pattern):
        if old != keep:
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


class Builder:
    """Builds (or finds in the cache) the base layer, the wheels, the services and the image."""

    def __init__(
        self, cache: Path, steps: Steps, *, rebuild: bool = False, key_source: str = "tpm"
    ):
        self.key_source = key_source
        """Which evaluation (``nixos.SNAPSHOTS``) the image renders: one image per key source."""
        self.cache = cache
        self.steps = steps
        self.rebuild = rebuild
        self.logs = cache / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    # --- keys ------------------------------------------------------------------------------

    def base_key(self) -> str:
        return inputs.key(
            {
                "suite": SUITE,
                "mirrors": MIRRORS,
                "packages": PACKAGES,
                "dpkg": DPKG_FILTERS,
                "initramfs": INITRAMFS_MODULES,
                "mmdebstrap": _mmdebstrap_version(),
                "layout": LAYOUT_VERSION,
            }
        )

    def image_key(self, base_key: str) -> str:
        return inputs.key(
            {
                "base": base_key,
                "sources": inputs.tree_digest(REPO_ROOT, IMAGE_SOURCES),
                "python": list(sys.version_info[:2]),
                "size": IMAGE_SIZE,
                "layout": LAYOUT_VERSION,
                "key_source": self.key_source,
            }
        )

    def placement(self, image_key: str) -> render.Placement:
        version = tomllib.loads((REPO_ROOT / "agent/pyproject.toml").read_text())["project"][
            "version"
        ]
        services = {
            name: inputs.store_path(
                f"{name}-{_version_of(name)}",
                inputs.key(
                    {
                        "service": inputs.tree_digest(
                            REPO_ROOT, [f"services/{name}", "scripts/build_services.sh"]
                        )
                    }
                ),
            )
            for name in SERVICES
        }
        return render.Placement(
            system=inputs.store_path(f"cairn-debian-vm-{version}", image_key),
            services=services,
        )

    # --- layers ----------------------------------------------------------------------------

    def image(self) -> Image:
        """The image for the current sources, built if the cache has none."""
        with self.steps.step("image: check the host"):
            check_host()
        base_key = self.base_key()
        image_key = self.image_key(base_key)
        # image-<key> (tpm) and image-<source>-<key>: each key source keeps its latest image.
        prefix = "image-" if self.key_source == "tpm" else f"image-{self.key_source}-"
        target = self.cache / f"{prefix}{image_key[:16]}"
        if (target / "manifest.json").is_file() and not self.rebuild:
            with self.steps.step("image: cached"):
                self.steps.note(f"{target} (inputs {image_key[:16]})")
            return Image(target, json.loads((target / "manifest.json").read_text()))
        base = self.base(base_key)
        wheels = self.wheels()
        binaries = self.services()
        with self.steps.step("image: install Cairn into the Debian root and make root.img"):
            image = self.assemble(base, wheels, binaries, image_key, target)
        _replace_others(
            self.cache, "image-[0-9a-f]*" if self.key_source == "tpm" else f"{prefix}*", target
        )
        return image

    def base(self, key: str) -> Path:
        tar = self.cache / f"base-{key[:16]}.tar"
        if tar.is_file() and not self.rebuild:
            with self.steps.step("image: Debian base (cached)"):
                self.steps.note(str(tar))
            return tar
        with self.steps.step(
            f"image: Debian base with mmdebstrap ({SUITE}, {len(PACKAGES)} packages)"
        ):
            with tempfile.TemporaryDirectory(dir=self.cache, prefix="base-build.") as tmp:
                overlay = Path(tmp) / "overlay"
                conf = overlay / "etc/initramfs-tools/conf.d/cairn-vm"
                conf.parent.mkdir(parents=True)
                # Only the listed modules (the virtio root disk); no resume device to look for.
                conf.write_text("MODULES=list\nRESUME=none\n")
                modules = overlay / "usr/share/initramfs-tools/modules.d/cairn-vm"
                modules.parent.mkdir(parents=True)
                modules.write_text("".join(f"{m}\n" for m in INITRAMFS_MODULES))
                partial = Path(tmp) / "base.tar"
                log = self.logs / "base.log"
                log.unlink(missing_ok=True)
                run(
                    [
                        "mmdebstrap",
                        "--variant=minbase",
                        "--mode=root",
                        "--format=tar",
                        '--aptopt=Apt::Install-Recommends "false"',
                        *(f"--dpkgopt={rule}" for rule in DPKG_FILTERS),
                        f"--include={','.join(PACKAGES)}",
                        f"--setup-hook=sync-in {overlay} /",
                        SUITE,
                        partial,
                        *MIRRORS,
                    ],
                    log=log,
                )
                partial.replace(tar)
            self.steps.note(f"{tar} ({tar.stat().st_size // 2**20} MiB)")
        _replace_others(self.cache, "base-*.tar", tar)
        return tar

    def wheels(self) -> Path:
        key = inputs.key(
            {"sources": inputs.tree_digest(REPO_ROOT, WHEEL_SOURCES), "python": sys.version}
        )
        target = self.cache / f"wheels-{key[:16]}"
        if target.is_dir() and not self.rebuild:
            with self.steps.step("image: wheels (cached)"):
                self.steps.note(str(target))
            return target
        with self.steps.step("image: wheels of the agent, the verifier and their dependencies"):
            partial = Path(tempfile.mkdtemp(dir=self.cache, prefix="wheels-build."))
            log = self.logs / "wheels.log"
            log.unlink(missing_ok=True)
            run(
                [
                    sys.executable, "-m", "pip", "wheel",
                    "--disable-pip-version-check", "--no-input",
                    "--wheel-dir", partial, "-r", REPO_ROOT / "requirements/agent.txt",
                    REPO_ROOT / "verifier", REPO_ROOT / "agent",
                ],
                log=log,
            )  # fmt: skip
            shutil.rmtree(target, ignore_errors=True)
            partial.replace(target)
            self.steps.note(f"{len(list(target.glob('*.whl')))} wheels in {target}")
        _replace_others(self.cache, "wheels-*", target)
        return target

    def services(self) -> dict[str, Path]:
        build = self.cache / "services-build"
        with self.steps.step("image: build and test the echo services (scripts/build_services.sh)"):
            log = self.logs / "services.log"
            log.unlink(missing_ok=True)
            run(["bash", REPO_ROOT / "scripts/build_services.sh", "--build-dir", build], log=log)
        return {
            "echo-cpp": build / "echo-cpp" / "echo-cpp",
            "echo-rust": build / "echo-rust" / "release" / "echo-rust",
        }

    def assemble(
        self, base: Path, wheels: Path, binaries: dict[str, Path], key: str, target: Path
    ) -> Image:
        work = Path(tempfile.mkdtemp(dir=self.cache, prefix="image-build."))
        log = self.logs / "image.log"
        log.unlink(missing_ok=True)
        try:
            root = work / "root"
            root.mkdir()
            run(["tar", "--extract", "--preserve-permissions", "--numeric-owner", "--xattrs",
                 "--xattrs-include=*", "--file", base, "--directory", root], log=log)  # fmt: skip
            shutil.copytree(wheels, root / "tmp/cairn-wheels")
            self.steps.note("agent venv: pip install --no-index in the guest root (its own Python)")
            in_guest = (
                f"python3 -m venv {render.AGENT_VENV} && "
                f"{render.AGENT_VENV}/bin/pip install --quiet --no-index "
                "--disable-pip-version-check --find-links /tmp/cairn-wheels "
                "cairn-verifier cairn-agent && rm -rf /tmp/cairn-wheels"
            )
            chroot(root, in_guest, log=log)
            if not export_root_prints_to_stdout(root, log):
                raise StepError(
                    "the packaged cairn-agent does not print its simulated root for "
                    "`export-root -o -`, which cairn-export-root needs"
                )
            placement = self.placement(key)
            self.install(root, placement, binaries)
            self.configure(root, log)
            manifest = self.describe(root, placement, key, base)
            out = work / "out"
            out.mkdir()
            (out / "manifest.json").write_text(
                json.dumps(manifest, indent=2, sort_keys=True) + "\n"
            )
            kernels = sorted((root / "boot").glob("vmlinuz-*"))
            initrds = sorted((root / "boot").glob("initrd.img-*"))
            if len(kernels) != 1 or len(initrds) != 1:
                raise StepError(
                    f"expected one kernel and one initramfs in /boot, found {kernels} and {initrds}"
                )
            shutil.copy2(kernels[0], out / "vmlinuz")
            shutil.copy2(initrds[0], out / "initrd.img")
            run(
                [
                    "mke2fs",
                    "-q",
                    "-t",
                    "ext4",
                    "-L",
                    "cairn-root",
                    "-d",
                    root,
                    out / "root.img",
                    IMAGE_SIZE,
                ],
                log=log,
            )
            shutil.rmtree(target, ignore_errors=True)
            out.replace(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        self.steps.note(
            f"{target}: root.img {(target / 'root.img').stat().st_blocks * 512 // 2**20} MiB used"
        )
        return Image(target, manifest)

    def install(self, root: Path, placement: render.Placement, binaries: dict[str, Path]) -> None:
        """This checkout's scripts and services, and the files rendered from the NixOS modules."""
        scripts = root / render.GUEST_SCRIPTS.lstrip("/") / "bin"
        scripts.mkdir(parents=True)
        for name in GUEST_SCRIPTS:
            shutil.copyfile(REPO_ROOT / "scripts/guest" / name, scripts / name)
            (scripts / name).chmod(0o755)
        vm = root / render.PROBE.lstrip("/")
        vm.parent.mkdir(parents=True, exist_ok=True)
        for name in ["cairn-vm-probe"]:
            shutil.copyfile(REPO_ROOT / "scripts/vm/guest" / name, vm.parent / name)
            (vm.parent / name).chmod(0o755)
        for name, binary in binaries.items():
            destination = root / placement.services[name].lstrip("/") / "bin" / name
            destination.parent.mkdir(parents=True)
            shutil.copyfile(binary, destination)
            destination.chmod(0o755)
        data = nixos.load(self.key_source)
        files = render.nixos_files(data, placement) + render.debian_files(data, placement.system)
        render.write_tree(files, root)

    def configure(self, root: Path, log: Path) -> None:
        """Users from sysusers.d, root's console login as cvm-qemu has it, networkd on, an empty
        machine-id (made on the first boot)."""
        run(["systemd-sysusers", f"--root={root}"], log=log)
        root_password = nixos.load(self.key_source)["configuration"]["rootHashedPassword"]
        if root_password != "":
            raise StepError(
                f"cvm-qemu gives root the password hash {root_password!r}; "
                "only '' (none) is rendered"
            )
        # Development VM: root logs in on the serial console without a password.
        run(["passwd", f"--root={root}", "--delete", "root"], log=log)
        run(["systemctl", f"--root={root}", "enable", "systemd-networkd.service"], log=log)
        (root / "etc/machine-id").write_text("")

    def describe(
        self, root: Path, placement: render.Placement, key: str, base: Path
    ) -> dict[str, Any]:
        """manifest.json, also kept in the image's system directory (what the agent attests)."""
        packages = subprocess.run(
            ["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W",
             "-f", "${Package} ${Version}\n"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        manifest: dict[str, Any] = {
            "key": key,
            "base": base.name,
            "system": placement.system,
            "services": dict(placement.services),
            "suite": SUITE,
            "sources": list(IMAGE_SOURCES),
        }
        system = root / placement.system.lstrip("/")
        system.mkdir(parents=True)
        (system / "image.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        (system / "packages.txt").write_text(packages)
        return manifest


def chroot(root: Path, script: str, *, log: Path) -> None:
    """Run ``script`` with the guest root's own tools (private mounts of /dev and /proc)."""
    guest = shlex.quote(str(root))
    inner = (
        f"mount --rbind /dev {guest}/dev && mount -t proc proc {guest}/proc && "
        f"chroot {guest} /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "
        f"sh -ec {shlex.quote(script)}"
    )
    run(["unshare", "--mount", "--propagation", "private", "sh", "-ec", inner], log=log)


def export_root_prints_to_stdout(root: Path, log: Path) -> bool:
    """Whether the packaged agent prints the simulated root for ``export-root -o -``."""
    probe = "/tmp/cairn-export-probe"
    config = (
        '[tee]\nprovider = "simulated-snp"\n[tpm]\nenabled = false\n'
        f'[state]\ndirectory = "{probe}/state"\n'
    )
    (root / probe.lstrip("/")).mkdir(parents=True)
    (root / probe.lstrip("/") / "agent.toml").write_text(config)
    out = root / probe.lstrip("/") / "stdout"
    try:
        chroot(
            root,
            f"cd {probe} && "
            f"({render.AGENT_BIN} export-root --config agent.toml -o - > stdout || true)",
            log=log,
        )
        return out.read_text(errors="replace").startswith("-----BEGIN CERTIFICATE-----")
    finally:
        shutil.rmtree(root / probe.lstrip("/"), ignore_errors=True)
