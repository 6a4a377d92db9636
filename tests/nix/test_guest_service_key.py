"""scripts/guest/cairn-service-key: the key-creation step the NixOS module runs before each demo
service starts (ExecStartPre), checked against Python's secp256k1 and the real service binaries.

The services' own rules (services/README.md, "Signing key") are the specification: 32 raw bytes,
0 < key < n, mode 0600, never replaced; the public key file is 66 hex digits and a newline, 0644.
"""

from __future__ import annotations

import os
import select
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from guest_scripts import GUEST_SCRIPTS, REPO_ROOT, require_tools, run

SERVICE_KEY = GUEST_SCRIPTS / "cairn-service-key"
ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
BINARIES = {"echo-cpp": "echo-cpp/echo-cpp", "echo-rust": "echo-rust/release/echo-rust"}


def python_public_key(secret: bytes) -> str:
    key = ec.derive_private_key(int.from_bytes(secret, "big"), ec.SECP256K1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    return public.hex() + "\n"


def service_key(state: Path, public: Path) -> subprocess.CompletedProcess[str]:
    return run(SERVICE_KEY, "--state-dir", state, "--public-key-file", public)


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    require_tools("openssl", "od", "stat")
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    return state, tmp_path / "public-key"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_creates_a_key_and_its_public_key(dirs: tuple[Path, Path]) -> None:
    state, public = dirs
    done = service_key(state, public)
    assert done.returncode == 0, done.stderr
    secret = (state / "signing.key").read_bytes()
    assert len(secret) == 32 and 0 < int.from_bytes(secret, "big") < ORDER
    assert public.read_text() == python_public_key(secret)
    assert (mode(state), mode(state / "signing.key"), mode(public)) == (0o700, 0o600, 0o644)
    assert sorted(p.name for p in state.iterdir()) == ["signing.key"], "a draft was left behind"


def test_an_existing_key_is_kept_and_its_public_key_rewritten(dirs: tuple[Path, Path]) -> None:
    state, public = dirs
    assert service_key(state, public).returncode == 0
    secret = (state / "signing.key").read_bytes()
    public.write_text("stale\n")
    done = service_key(state, public)
    assert done.returncode == 0, done.stderr
    assert (state / "signing.key").read_bytes() == secret
    assert public.read_text() == python_public_key(secret)


def test_two_keys_are_different(tmp_path: Path) -> None:
    keys = []
    for name in ("a", "b"):
        state = tmp_path / name
        state.mkdir()
        assert service_key(state, tmp_path / f"{name}.pub").returncode == 0
        keys.append((state / "signing.key").read_bytes())
    assert keys[0] != keys[1]


@pytest.mark.parametrize(
    ("content", "file_mode", "message"),
    [
        (bytes(32), 0o600, "0 or >= the group order"),
        (ORDER.to_bytes(32, "big"), 0o600, "0 or >= the group order"),
        (b"\xff" * 32, 0o600, "0 or >= the group order"),
        (b"\x01" * 31, 0o600, "not 32 bytes"),
        (b"\x01" * 32, 0o644, "accessible by group or others"),
    ],
    ids=["zero", "order", "above-order", "short", "world-readable"],
)
def test_a_malformed_key_is_refused_and_kept(
    dirs: tuple[Path, Path], content: bytes, file_mode: int, message: str
) -> None:
    state, public = dirs
    key = state / "signing.key"
    key.write_bytes(content)
    key.chmod(file_mode)
    done = service_key(state, public)
    assert done.returncode == 1
    assert message in done.stderr, done.stderr
    assert key.read_bytes() == content
    assert not public.exists()


def test_a_symlinked_key_is_refused(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    state, public = dirs
    target = tmp_path / "elsewhere"
    target.write_bytes(b"\x01" * 32)
    target.chmod(0o600)
    (state / "signing.key").symlink_to(target)
    done = service_key(state, public)
    assert done.returncode == 1
    assert "not a regular file" in done.stderr


@pytest.mark.parametrize("arguments", [[], ["--state-dir", "x"], ["--bogus"]])
def test_usage_errors_exit_2(arguments: list[str]) -> None:
    done = run(SERVICE_KEY, *arguments)
    assert done.returncode == 2
    assert "usage: cairn-service-key" in done.stderr


@pytest.fixture(scope="module")
def binaries() -> dict[str, Path]:
    """The echo service binaries, built with scripts/build_services.sh (incremental)."""
    given = os.environ.get("CAIRN_SERVICES_BUILD_DIR")
    build_dir = Path(given) if given else REPO_ROOT / ".build" / "services"
    if not given:
        built = run("bash", REPO_ROOT / "scripts" / "build_services.sh", "--build-dir", build_dir)
        if built.returncode != 0:
            pytest.fail(f"building the services failed:\n{built.stderr[-3000:]}")
    return {name: build_dir / path for name, path in BINARIES.items()}


@pytest.mark.parametrize("service", sorted(BINARIES))
def test_the_service_uses_the_key_and_writes_the_same_public_key(
    binaries: dict[str, Path], dirs: tuple[Path, Path], tmp_path: Path, service: str
) -> None:
    """The step the module runs before the service: the service adopts its key unchanged."""
    state, public = dirs
    assert service_key(state, public).returncode == 0
    secret = (state / "signing.key").read_bytes()
    written_by_service = tmp_path / "service-public-key"
    process = subprocess.Popen(
        [str(binaries[service]), "--listen", "127.0.0.1:0", "--state-dir", str(state),
         "--public-key-file", str(written_by_service)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 10)
        line = process.stdout.readline() if ready else b""
        assert line.startswith(b"listening on "), (line, process.stderr)
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert (state / "signing.key").read_bytes() == secret
    assert written_by_service.read_text() == public.read_text()
