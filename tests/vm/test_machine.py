"""How the guest is booted (scripts/vm/cairnvm/machine.py): what QEMU is given, and the QMP client.

The boot itself runs in ``./dev vm``; here: every forwarded port binds the host's loopback only,
the TPM is swtpm through tpm-crb, the state volume is a second virtio disk, a crash stops QEMU
instead of rebooting it, and the QMP client skips events while waiting for a command's answer.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest
from cairnvm.image import Image
from cairnvm.machine import Disks, Machine, Qmp, Settings, choose_accel, strip_terminal


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    image = Image(tmp_path / "image", {"system": "", "services": {}, "key": "k"})
    settings = Settings(
        memory_mib=2048, cores=2, accel="tcg", forwards={8080: 40001, 9001: 40002, 9002: 40003}
    )
    return Machine(
        image,
        Disks(tmp_path / "vm"),
        settings,
        cmdline="root=/dev/vda rw",
        console=tmp_path / "console.log",
    )


def option_values(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, word in enumerate(argv) if word == option]


def test_forwarded_ports_bind_loopback_only(machine: Machine) -> None:
    argv = machine.qemu_argv()
    [netdev] = option_values(argv, "-netdev")
    rules = [part for part in netdev.split(",") if part.startswith("hostfwd=")]
    assert rules == [
        "hostfwd=tcp:127.0.0.1:40001-:8080",
        "hostfwd=tcp:127.0.0.1:40002-:9001",
        "hostfwd=tcp:127.0.0.1:40003-:9002",
    ]


def test_tpm_crb_two_virtio_disks_and_no_reboot(machine: Machine) -> None:
    argv = machine.qemu_argv()
    assert "tpm-crb,tpmdev=tpm0" in option_values(argv, "-device")
    drives = option_values(argv, "-drive")
    assert [d.split(",")[0] for d in drives] == [
        f"file={machine.disks.root}",
        f"file={machine.disks.state}",
    ]
    assert all("if=virtio" in d for d in drives)
    assert "-no-reboot" in argv and option_values(argv, "-accel") == ["tcg"]
    assert option_values(argv, "-m") == ["2048"] and option_values(argv, "-smp") == ["2"]
    assert option_values(argv, "-serial") == [f"file:{machine.console}"]


def test_tcg_needs_no_probe_and_a_requested_kvm_that_cannot_work_fails() -> None:
    assert choose_accel("tcg") == ("tcg", "TCG requested")
    accel, why = choose_accel("auto")
    assert accel in {"kvm", "tcg"} and why


def test_serial_console_escapes_are_removed() -> None:
    assert strip_terminal("\x1b[0;32m  OK  \x1b[0m] Started\r") == "  OK  ] Started"


def test_qmp_skips_events_until_the_answer(tmp_path: Path) -> None:
    path = tmp_path / "qmp"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(1)
    received: list[dict[str, object]] = []

    def serve() -> None:
        connection, _ = server.accept()
        with connection, connection.makefile("rw") as stream:
            stream.write(json.dumps({"QMP": {"version": {}}}) + "\n")
            stream.flush()
            for answer in ({"return": {}}, {"return": {"status": "running"}}):
                received.append(json.loads(stream.readline()))
                stream.write(json.dumps({"event": "POWERDOWN"}) + "\n")
                stream.write(json.dumps(answer) + "\n")
                stream.flush()

    thread = threading.Thread(target=serve)
    thread.start()
    client = Qmp(path)
    try:
        assert client.command("query-status") == {"status": "running"}
    finally:
        client.close()
        thread.join(timeout=5)
        server.close()
    assert [m["execute"] for m in received] == ["qmp_capabilities", "query-status"]


def test_nothing_is_created_before_start_or_left_after_stop(machine: Machine) -> None:
    assert not machine.sockets.exists()
    machine.qemu_argv()
    machine.stop()
    assert not machine.sockets.exists()
