"""``cairn-agent init-demo DIR``: everything a local, by-hand run needs, in one new directory.

Written into DIR:

- ``agent.toml``: a simulated TEE (SEV-SNP, TDX, or Azure's paravisor over either), a swtpm
  TCTI, the paths below;
- ``current-system``: a symlink standing in for /run/current-system, to a well-formed store
  path that is named, not built (the by-hand run attests names, not a measured system);
- ``services.json``: the manifest of the two echo services (docs: services/README.md);
- ``echo-cpp/signing.key``, ``echo-rust/signing.key``: each service's secp256k1 private key
  (32 raw bytes, mode 0600, in a mode-0700 state directory), exactly what the service itself
  would create; ``echo-cpp.pub``, ``echo-rust.pub``: the public keys as the services write them
  (66 hex digits and a newline), so the agent can start before the services do;
- ``tpm/``: an empty state directory for swtpm.

Nothing existing is overwritten: DIR must not exist or be empty.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .errors import ExitCode, StartupError

NIX_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"
SERVICES = ("echo-cpp", "echo-rust")
SERVICE_BINARIES = {
    "echo-cpp": ".build/services/echo-cpp/echo-cpp",
    "echo-rust": ".build/services/echo-rust/release/echo-rust",
}
SYSTEM_NAME = "nixos-system-cairn-demo-25.11"
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class DemoPorts:
    """Where the demo's parts listen on 127.0.0.1."""

    agent: int = 8080
    tpm: int = 2321
    """swtpm's server port; its control port is the next one."""
    echo_cpp: int = 7001
    echo_rust: int = 7002


def store_path(name: str) -> str:
    """A well-formed (not built) Nix store path, stable per name."""
    digest = hashlib.sha256(name.encode()).digest()
    return "/nix/store/" + "".join(NIX_BASE32[b % 32] for b in digest) + "-" + name


def init_demo(directory: Path, *, tee: str = "snp", ports: DemoPorts | None = None) -> str:
    """Write the demo files into ``directory`` (new or empty); return the next steps to run."""
    ports = ports or DemoPorts()
    _tee_section(tee)  # an unknown TEE is refused before anything is written
    _claim_directory(directory)
    root = directory.resolve()
    link = root / "current-system"
    link.symlink_to(store_path(SYSTEM_NAME))
    services = []
    for name in SERVICES:
        public_key = _write_service_key(root / name, root / f"{name}.pub")
        services.append(
            {
                "name": name,
                "store_path": store_path(f"{name}-0.1.0"),
                "public_key_file": str(root / f"{name}.pub"),
                "public_key": public_key.hex(),
            }
        )
    manifest = root / "services.json"
    _write_new(
        manifest,
        json.dumps(
            {"services": [{k: v for k, v in s.items() if k != "public_key"} for s in services]},
            indent=2,
        )
        + "\n",
    )
    (root / "tpm").mkdir(mode=0o700)
    _write_new(root / "agent.toml", _config_text(root, tee, ports))
    return next_steps(directory, ports)


def _claim_directory(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        if not directory.is_dir():
            raise StartupError(
                f"{directory} exists and is not a directory: choose a new directory",
                ExitCode.USAGE,
            ) from None
        if any(directory.iterdir()):
            raise StartupError(
                f"{directory} exists and is not empty: refusing to overwrite anything in it; "
                "choose a new directory (or remove this one)",
                ExitCode.USAGE,
            ) from None
    except OSError as exc:
        raise StartupError(f"cannot create {directory}: {exc.strerror}", ExitCode.USAGE) from exc


def _write_new(path: Path, text: str, mode: int = 0o644) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)


def _write_service_key(state_dir: Path, public_key_file: Path) -> bytes:
    """A service's signing.key (32 raw bytes, 0600) and its public key file; the public key."""
    key = ec.generate_private_key(ec.SECP256K1())
    scalar = key.private_numbers().private_value
    if not 0 < scalar < SECP256K1_ORDER:  # cannot happen with a valid key; checked anyway
        raise StartupError("generated an invalid secp256k1 key", ExitCode.INTERNAL)
    state_dir.mkdir(mode=0o700)
    descriptor = os.open(
        state_dir / "signing.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
    )
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(scalar.to_bytes(32, "big"))
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    _write_new(public_key_file, public.hex() + "\n")
    return public


def _config_text(root: Path, tee: str, ports: DemoPorts) -> str:
    def quoted(path: Path) -> str:
        return json.dumps(str(path))  # a TOML basic string is a JSON string

    return f"""# cairn-agent configuration for a local run (written by `cairn-agent init-demo`).
# SIMULATED TEE: the agent signs its own reports; nothing here is hardware-backed.
[listen]
host = "127.0.0.1"
port = {ports.agent}

[tee]
{_tee_section(tee)}

[tpm]
tcti = "swtpm:port={ports.tpm}"

[services]
manifest = {quoted(root / "services.json")}

[system]
path = {quoted(root / "current-system")}   # stands in for /run/current-system

[state]
directory = {quoted(root / "state")}
"""


DEMO_TEES = ("snp", "tdx", "azure-snp", "azure-tdx")
"""``init-demo --tee``: a simulated SEV-SNP or TDX platform, or the simulated Azure paravisor
(``simulated-azure``) over one of them, which writes its HCL report into swtpm's NV index."""


def _tee_section(tee: str) -> str:
    if tee not in DEMO_TEES:
        raise StartupError(
            f"init-demo simulates {', '.join(DEMO_TEES)}, not {tee!r}", ExitCode.USAGE
        )
    if tee.startswith("azure-"):
        platform = "tdx" if tee == "azure-tdx" else "sev-snp"
        return f'provider = "simulated-azure"\nsimulated_platform = "{platform}"'
    return f'provider = "simulated-{tee}"'


def next_steps(directory: Path, ports: DemoPorts) -> str:
    """The commands that run the demo, for the user's shell (paths as the user gave them)."""
    d = shlex.quote(str(directory))
    absolute = shlex.quote(str(directory.resolve()))  # swtpm --daemon changes to /
    agent = f"http://127.0.0.1:{ports.agent}"
    lines = [
        f"wrote a local demo setup to {directory} (simulated TEE, echo-cpp and echo-rust keys)",
        "next, from the repository root (docs/agent.md explains each step):",
        f"  swtpm socket --tpm2 --server type=tcp,port={ports.tpm} "
        f"--ctrl type=tcp,port={ports.tpm + 1} --flags not-need-init,startup-clear "
        f"--tpmstate dir={absolute}/tpm --daemon --pid file={absolute}/swtpm.pid",
        f"  cairn-agent serve --config {d}/agent.toml 2>{d}/agent.log &",
        f"  curl -fsS --retry 30 --retry-connrefused --retry-delay 1 {agent}/healthz",
        f"  cairn-agent export-root --config {d}/agent.toml -o {d}/root.pem",
        f'  NONCE_HEX=$(openssl rand -hex 32); curl -fsS "{agent}/v1/evidence?nonce=$NONCE_HEX"'
        " -o evidence.json",
        '  cairn verify evidence evidence.json --nonce "$NONCE_HEX" '
        f"--trust-simulated-root {d}/root.pem",
        "the echo services (built by scripts/build_services.sh --build-dir .build/services):",
    ]
    service_ports = {"echo-cpp": ports.echo_cpp, "echo-rust": ports.echo_rust}
    for name in SERVICES:
        lines.append(
            f"  {SERVICE_BINARIES[name]} --listen 127.0.0.1:{service_ports[name]} "
            f"--state-dir {d}/{name} --public-key-file {d}/{name}.pub &"
        )
    return "\n".join(lines)
