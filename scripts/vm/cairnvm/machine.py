"""One boot of the guest: swtpm, QEMU and its QMP socket, always stopped when the boot ends.

The guest gets what cvm-qemu's qemu-vm.nix gives it: a virtio root disk, a second virtio disk
for the encrypted state, a TPM 2.0 (swtpm through ``tpm-crb``), user networking with the
forwarded ports bound to 127.0.0.1 only, and a 9p share (``xchg``) for files the guest hands to
the host. The kernel and initramfs are booted directly (``-kernel``/``-initrd``; SeaBIOS, no
Secure Boot, as cvm-qemu). KVM is used when it works, TCG otherwise.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .image import Image
from .render import XCHG_TAG
from .steps import StepError

KVM_GET_API_VERSION = 0xAE00
KVM_CREATE_VM = 0xAE01
PR_SET_PDEATHSIG = 1
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\r")


def die_with_parent() -> None:
    """``preexec_fn`` of QEMU and swtpm: SIGTERM when this process dies, even by SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def kvm_usable() -> tuple[bool, str]:
    """Whether hardware virtualisation works here, and why not when it does not."""
    cpuinfo = (
        Path("/proc/cpuinfo").read_text(errors="replace") if Path("/proc/cpuinfo").exists() else ""
    )
    if not re.search(r"^flags\s*:.*\b(vmx|svm)\b", cpuinfo, re.MULTILINE):
        # Some sandboxes offer a /dev/kvm that creates VMs but never runs a kernel in them.
        return False, "the CPU flags show neither vmx nor svm"
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return False, f"/dev/kvm: {exc.strerror}"
    try:
        if fcntl.ioctl(fd, KVM_GET_API_VERSION) != 12:
            return False, "unexpected KVM API version"
        os.close(fcntl.ioctl(fd, KVM_CREATE_VM, 0))
    except OSError as exc:
        return False, f"KVM_CREATE_VM: {exc.strerror}"
    finally:
        os.close(fd)
    return True, "KVM works"


def choose_accel(requested: str) -> tuple[str, str]:
    """``(accelerator, why)`` for ``auto``, ``kvm`` or ``tcg``."""
    if requested == "tcg":
        return "tcg", "TCG requested"
    usable, why = kvm_usable()
    if requested == "kvm":
        if not usable:
            raise StepError(f"KVM requested but unusable: {why}")
        return "kvm", why
    return ("kvm", why) if usable else ("tcg", f"KVM unusable ({why}): TCG, slower")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def strip_terminal(text: str) -> str:
    """Serial console text without colour and cursor escapes."""
    return _ANSI.sub("", text)


class Qmp:
    """A QEMU Machine Protocol client on a unix socket (commands only; events are skipped)."""

    def __init__(self, path: Path, timeout: float = 10.0):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.file: IO[str] = self.sock.makefile("rw", encoding="utf-8")
        self._read()  # greeting
        self.command("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        line = self.file.readline()
        if not line:
            raise ConnectionError("QEMU closed the QMP connection")
        message: dict[str, Any] = json.loads(line)
        return message

    def command(self, name: str, **arguments: Any) -> Any:
        request: dict[str, Any] = {"execute": name}
        if arguments:
            request["arguments"] = arguments
        self.file.write(json.dumps(request) + "\n")
        self.file.flush()
        while True:
            message = self._read()
            if "return" in message:
                return message["return"]
            if "error" in message:
                raise RuntimeError(f"QMP {name}: {message['error'].get('desc', message['error'])}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
            self.sock.close()


@dataclass(frozen=True)
class Disks:
    """Everything a VM keeps from one boot to the next, in one directory."""

    directory: Path

    @property
    def root(self) -> Path:
        return self.directory / "root.qcow2"

    @property
    def state(self) -> Path:
        return self.directory / "state.img"

    @property
    def tpm(self) -> Path:
        return self.directory / "swtpm"

    @property
    def xchg(self) -> Path:
        return self.directory / "xchg"

    def exists(self) -> bool:
        return self.root.is_file() and self.state.is_file() and self.tpm.is_dir()

    def create(self, image: Image, state_mib: int) -> None:
        """A copy-on-write root over the cached image, an empty state disk, a new TPM."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.directory.chmod(0o700)
        subprocess.run(
            [
                "qemu-img",
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                "raw",
                "-b",
                str(image.root),
                str(self.root),
            ],
            check=True,
        )
        with self.state.open("wb") as state:
            state.truncate(state_mib * 2**20)
        self.tpm.mkdir(mode=0o700)
        self.xchg.mkdir(exist_ok=True)


@dataclass(frozen=True)
class Settings:
    """How to boot: size (from cvm-qemu's virtualisation options), accelerator, port forwards."""

    memory_mib: int
    cores: int
    accel: str
    forwards: Mapping[int, int]
    """guest port -> host port on 127.0.0.1"""


class Machine:
    """swtpm + QEMU for one boot. Use as a context manager: on exit nothing is left running."""

    def __init__(
        self,
        image: Image,
        disks: Disks,
        settings: Settings,
        *,
        cmdline: str,
        console: Path | None,
        launch: str | None = None,
    ):
        self.launch = launch
        """SMBIOS type 1 version string (``/sys/class/dmi/id/product_version`` in the guest):
        a launch choice of the host that the simulated SEV-SNP measurement covers when the
        agent lists it (``keySource = "snp-derived"``); None: QEMU's default."""
        self.image = image
        self.disks = disks
        self.settings = settings
        self.cmdline = cmdline
        self.console = console
        # Short paths for AF_UNIX (108 bytes at most), made by start() and removed by stop().
        self.sockets = Path(tempfile.gettempdir()) / f"cairn-vm.{secrets.token_hex(6)}"
        self.swtpm: subprocess.Popen[bytes] | None = None
        self.qemu: subprocess.Popen[bytes] | None = None

    # --- start -----------------------------------------------------------------------------

    def __enter__(self) -> Machine:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def qemu_argv(self) -> list[str]:
        s = self.settings
        forwards = ",".join(
            f"hostfwd=tcp:127.0.0.1:{host}-:{guest}" for guest, host in sorted(s.forwards.items())
        )
        serial = (
            ["-serial", "mon:stdio"]
            if self.console is None
            else ["-serial", f"file:{self.console}"]
        )
        monitor = [] if self.console is None else ["-monitor", "none"]
        return [
            "qemu-system-x86_64",
            "-name", "cairn-vm",
            "-nodefaults",
            "-accel", s.accel,
            "-machine", "q35",
            "-cpu", "host" if s.accel == "kvm" else "max",
            "-smp", str(s.cores),
            "-m", str(s.memory_mib),
            "-kernel", str(self.image.kernel),
            "-initrd", str(self.image.initrd),
            "-append", self.cmdline,
            *(["-smbios", f"type=1,version={self.launch}"] if self.launch else []),
            "-drive", f"file={self.disks.root},if=virtio,format=qcow2",
            "-drive", f"file={self.disks.state},if=virtio,format=raw",
            "-chardev", f"socket,id=chrtpm,path={self.sockets / 'swtpm'}",
            "-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
            "-device", "tpm-crb,tpmdev=tpm0",
            "-netdev", f"user,id=net0,{forwards}" if forwards else "user,id=net0",
            "-device", "virtio-net-pci,netdev=net0,romfile=",
            "-virtfs",
            f"local,path={self.disks.xchg},mount_tag={XCHG_TAG},security_model=none,id=xchg",
            "-display", "none",
            "-vga", "none",
            *serial,
            *monitor,
            "-qmp", f"unix:{self.sockets / 'qmp'},server=on,wait=off",
            "-no-reboot",
        ]  # fmt: skip

    def start(self) -> None:
        self.sockets.mkdir(mode=0o700)
        if shutil.which("swtpm") is None or shutil.which("qemu-system-x86_64") is None:
            raise StepError(
                "swtpm or qemu-system-x86_64 is missing (./dev setup base tpm vm installs them)"
            )
        tpm_log = self.disks.directory / "swtpm.log"
        self.swtpm = subprocess.Popen(
            [
                "swtpm", "socket", "--tpm2",
                "--tpmstate", f"dir={self.disks.tpm.resolve()}",
                "--ctrl", f"type=unixio,path={self.sockets / 'swtpm'}",
                "--terminate",
                "--log", f"file={tpm_log.resolve()},level=1",
            ],
            stdin=subprocess.DEVNULL,
            # Single-threaded here; the death signal can only be set in the child itself.
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )  # fmt: skip
        self._wait_for((self.sockets / "swtpm").exists, 10, "swtpm's control socket", self.swtpm)
        if self.console is not None:
            self.console.unlink(missing_ok=True)
        qemu_log = self.disks.directory / "qemu.log"
        with qemu_log.open("ab") as log:
            self.qemu = subprocess.Popen(
                self.qemu_argv(),
                stdin=subprocess.DEVNULL if self.console is not None else None,
                stdout=log if self.console is not None else None,
                stderr=log if self.console is not None else None,
                preexec_fn=die_with_parent,  # noqa: PLW1509
            )
        self._wait_for((self.sockets / "qmp").exists, 30, "QEMU's QMP socket", self.qemu)

    def _wait_for(
        self, ready: Callable[[], bool], seconds: float, what: str, process: subprocess.Popen[bytes]
    ) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            if process.poll() is not None:
                raise StepError(
                    f"{what} never appeared: the process exited with {process.returncode}",
                    self.diagnostics(),
                )
            if time.monotonic() > deadline:
                raise StepError(f"{what} did not appear within {seconds:g} s", self.diagnostics())
            time.sleep(0.05)

    # --- state -----------------------------------------------------------------------------

    def running(self) -> bool:
        return self.qemu is not None and self.qemu.poll() is None

    def check_running(self, doing: str) -> None:
        """Fail with the console when QEMU has stopped (crash, kernel panic, power-off)."""
        if not self.running():
            code = None if self.qemu is None else self.qemu.returncode
            raise StepError(
                f"the VM stopped while {doing} (QEMU exit status {code})", self.diagnostics()
            )

    def console_text(self) -> str:
        if self.console is None or not self.console.is_file():
            return ""
        return strip_terminal(self.console.read_text(errors="replace"))

    def diagnostics(self, lines: int = 80) -> str:
        """The tail of the guest's serial console and of QEMU's own messages."""
        parts = []
        console = self.console_text().splitlines()
        if console:
            parts.append(
                f"--- guest serial console ({self.console}), "
                f"last {min(lines, len(console))} lines ---"
            )
            parts.extend(console[-lines:])
        qemu_log = self.disks.directory / "qemu.log"
        if qemu_log.is_file() and qemu_log.stat().st_size:
            parts.append(f"--- {qemu_log} ---")
            parts.extend(qemu_log.read_text(errors="replace").splitlines()[-20:])
        return "\n".join(parts)

    # --- stop ------------------------------------------------------------------------------

    def qmp(self) -> Qmp:
        return Qmp(self.sockets / "qmp")

    def power_off(self, timeout: float) -> float:
        """ACPI power button, then wait for the guest to shut down; returns the seconds taken."""
        self.check_running("asking it to power off")
        start = time.monotonic()
        client = self.qmp()
        try:
            client.command("system_powerdown")
        finally:
            client.close()
        assert self.qemu is not None
        try:
            self.qemu.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StepError(
                f"the guest did not power off within {timeout:g} s of the ACPI power button",
                self.diagnostics(),
            ) from None
        if self.qemu.returncode != 0:
            raise StepError(
                f"QEMU exited with {self.qemu.returncode} at power-off", self.diagnostics()
            )
        return time.monotonic() - start

    def stop(self) -> None:
        """Stop QEMU (QMP quit, then SIGTERM, then SIGKILL) and swtpm; remove the sockets."""
        if self.qemu is not None and self.qemu.poll() is None:
            with contextlib.suppress(OSError, RuntimeError, ConnectionError, json.JSONDecodeError):
                client = self.qmp()
                try:
                    client.command("quit")
                finally:
                    client.close()
            _reap(self.qemu)
        if self.swtpm is not None:
            if self.swtpm.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.swtpm.wait(timeout=5)  # --terminate: it exits once QEMU is gone
            _reap(self.swtpm)
        shutil.rmtree(self.sockets, ignore_errors=True)


def _reap(process: subprocess.Popen[bytes]) -> None:
    for signal_name in ("wait", "terminate", "kill"):
        if signal_name != "wait":
            with contextlib.suppress(ProcessLookupError):
                getattr(process, signal_name)()
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue
