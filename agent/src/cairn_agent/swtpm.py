"""A private software TPM (swtpm) for local runs and tests: free ports, ready-wait, clean stop.

``swtpm socket --tpm2 --server type=tcp,port=P --ctrl type=tcp,port=P+1 --flags
not-need-init,startup-clear`` is ready in milliseconds; the TCTI string for it is
``swtpm:port=P`` (tpm2-tss uses P+1 for control by convention).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "install swtpm (Debian: `apt-get install swtpm swtpm-tools`, or `./dev setup base tpm`)"
)


class SwtpmError(RuntimeError):
    """swtpm is missing or did not start."""


def free_port_pair() -> int:
    """A port P such that P and P+1 were free a moment ago."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise SwtpmError("no free pair of TCP ports on 127.0.0.1")


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None, timeout: float = 10) -> bool:
    """True once 127.0.0.1:port accepts connections; False if ``process`` died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.005)
    return False


@dataclass(frozen=True)
class Swtpm:
    """A running swtpm."""

    port: int
    state_dir: Path

    @property
    def tcti(self) -> str:
        return f"swtpm:port={self.port}"


@contextmanager
def running_swtpm(state_dir: Path) -> Iterator[Swtpm]:
    """Start swtpm with its state in ``state_dir`` (created); stop it on exit."""
    if shutil.which("swtpm") is None:
        raise SwtpmError(f"swtpm is not installed: {INSTALL_HINT}")
    state_dir.mkdir(parents=True, exist_ok=True)
    stderr = b""
    for _ in range(5):
        port = free_port_pair()
        process = subprocess.Popen(
            [
                "swtpm", "socket", "--tpm2",
                "--server", f"type=tcp,port={port}",
                "--ctrl", f"type=tcp,port={port + 1}",
                "--flags", "not-need-init,startup-clear",
                "--tpmstate", f"dir={state_dir}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        if wait_for_port(port, process):
            break
        process.kill()
        _, stderr = process.communicate()
    else:
        raise SwtpmError(f"swtpm did not start: {stderr.decode(errors='replace')}")
    try:
        yield Swtpm(port, state_dir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
