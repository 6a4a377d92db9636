"""Building and running the echo services for tests (tests/services, tests/zk).

The services are built with ``scripts/build_services.sh`` into ``.build/services`` (incremental),
or taken from ``CAIRN_SERVICES_BUILD_DIR`` when that is set. A missing toolchain fails the tests
with an install hint: it is never a skip.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build_services.sh"
SERVICES = ("echo-cpp", "echo-rust")
BINARY_PATHS = {"echo-cpp": "echo-cpp/echo-cpp", "echo-rust": "echo-rust/release/echo-rust"}
INSTALL_HINT = (
    "install the services toolchain with `./dev setup base services` (Debian: apt-get install "
    "--no-install-recommends cmake g++ pkg-config libsecp256k1-dev libssl-dev cargo rustc)"
)
IO_TIMEOUT = 10.0


def _missing_tools() -> list[str]:
    missing = [
        tool
        for tool in ("cmake", "c++", "pkg-config", "cargo", "rustc")
        if shutil.which(tool) is None
    ]
    if "pkg-config" not in missing:
        for module in ("libsecp256k1", "libcrypto"):
            found = subprocess.run(["pkg-config", "--exists", module], check=False)
            if found.returncode != 0:
                missing.append(f"{module} (pkg-config)")
    return missing


def build_binaries() -> dict[str, Path]:
    """Paths of the built service binaries (building them first unless a build is given)."""
    given_dir = os.environ.get("CAIRN_SERVICES_BUILD_DIR")
    if given_dir:
        build_dir = Path(given_dir)
    else:
        missing = _missing_tools()
        if missing:
            pytest.fail(
                f"cannot build the echo services, missing: {', '.join(missing)}; {INSTALL_HINT}"
            )
        build_dir = REPO_ROOT / ".build" / "services"
        built = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "--build-dir", str(build_dir)],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if built.returncode != 0:
            pytest.fail(
                f"{BUILD_SCRIPT.name} failed ({built.returncode}):\n"
                f"{built.stdout[-4000:]}\n{built.stderr[-4000:]}\n{INSTALL_HINT}"
            )
    paths = {name: build_dir / BINARY_PATHS[name] for name in SERVICES}
    for path in paths.values():
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing; run scripts/build_services.sh --build-dir {build_dir}")
    return paths


@dataclass
class RunningService:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    state_dir: Path
    public_key_file: Path

    def public_key(self) -> bytes:
        text = self.public_key_file.read_text()
        assert text.endswith("\n") and len(text) == 67, text
        return bytes.fromhex(text[:-1])

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT)


def _read_listening_line(process: subprocess.Popen[bytes]) -> int:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], IO_TIMEOUT)
    line = process.stdout.readline() if ready else b""
    if not line.startswith(b"listening on 127.0.0.1:"):
        process.kill()
        _, err = process.communicate(timeout=IO_TIMEOUT)
        pytest.fail(f"service did not start: stdout {line!r}, stderr {err!r}")
    return int(line.rsplit(b":", 1)[1])


@contextmanager
def run_service(binary: Path, name: str, state_dir: Path, *extra: str) -> Iterator[RunningService]:
    public_key_file = state_dir.parent / f"{name}-{state_dir.name}.pub"
    process = subprocess.Popen(
        [
            str(binary),
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            str(state_dir),
            "--public-key-file",
            str(public_key_file),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        port = _read_listening_line(process)
        yield RunningService(name, process, port, state_dir, public_key_file)
    finally:
        process.terminate()
        try:
            process.communicate(timeout=IO_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    assert process.returncode == -15, f"{name} exited with {process.returncode}"


def exchange(conn: socket.socket, data: bytes, lines: int) -> list[bytes]:
    """Send ``data`` and read ``lines`` response lines."""
    conn.sendall(data)
    reader = conn.makefile("rb")
    return [reader.readline() for _ in range(lines)]


def read_to_eof(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
