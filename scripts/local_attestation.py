"""The local end-to-end attestation: swtpm + cairn-agent (simulated TEE) + cairn verify evidence.

Run by ``./dev demo`` (nox session ``demo``); also usable directly once cairn-verifier and
cairn-agent are installed and swtpm is on PATH::

    python scripts/local_attestation.py --tee snp      # or --tee tdx

Nothing here is hardware-backed: the agent's simulated TEE signs real-format reports with a
locally generated chain, and the verifier trusts that chain only because it is named with
``--trust-simulated-root``. The output says so.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cairn_agent.swtpm import free_port_pair, running_swtpm, wait_for_port

NIX_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"
SERVICES = ("echo-cpp", "echo-rust")


def store_path(name: str) -> str:
    """A well-formed (not built) Nix store path for the demo, stable per name."""
    digest = hashlib.sha256(name.encode()).digest()
    return "/nix/store/" + "".join(NIX_BASE32[b % 32] for b in digest[:32]) + "-" + name


def write_inventory(work: Path) -> tuple[Path, Path, str]:
    """A fake /run/current-system symlink and a services manifest with fresh secp256k1 keys."""
    system = store_path("nixos-system-cairn-demo-25.11")
    link = work / "current-system"
    link.symlink_to(system)
    services = []
    for name in SERVICES:
        key = ec.generate_private_key(ec.SECP256K1())
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
        key_file = work / f"{name}.pub"
        key_file.write_text(public.hex() + "\n")
        services.append(
            {
                "name": name,
                "store_path": store_path(f"{name}-0.1.0"),
                "public_key_file": str(key_file),
            }
        )
    manifest = work / "services.json"
    manifest.write_text(json.dumps({"services": services}, indent=2))
    return link, manifest, system


def write_config(
    work: Path, tee: str, tcti: str, port: int, *, system: Path, manifest: Path
) -> Path:
    config = work / "agent.toml"
    config.write_text(
        f"""[listen]
host = "127.0.0.1"
port = {port}

[tee]
provider = "simulated-{tee}"

[tpm]
tcti = "{tcti}"
pcrs = [0, 1, 2, 3, 4, 5, 6, 7]

[services]
manifest = "{manifest}"

[system]
path = "{system}"

[state]
directory = "{work / "state"}"
"""
    )
    return config


def write_policy(work: Path, system: str) -> Path:
    policy = work / "policy.toml"
    policy.write_text(
        f"""# Demo policy: the NixOS system and both services must be what the agent attests.
[evidence]
system_store_paths = ["{system}"]
required_services = {json.dumps(list(SERVICES))}
"""
    )
    return policy


def wait_healthy(port: int, agent: subprocess.Popen[bytes], timeout: float = 60) -> None:
    if not wait_for_port(port, agent, timeout):
        raise SystemExit("the agent did not start listening (see its log above)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
                print(f"agent healthy: {answer.read().decode()}")
                return
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"the agent refuses to serve: {exc.read().decode()}") from None
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the agent did not become healthy in time")


def run(tee: str, work: Path) -> int:
    for tool in ("cairn", "cairn-agent"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"{tool} is not on PATH: install ./verifier and ./agent (./dev demo does)"
            )
    system_link, manifest, system = write_inventory(work)
    with running_swtpm(work / "swtpm") as swtpm:
        port = free_port_pair()
        config = write_config(work, tee, swtpm.tcti, port, system=system_link, manifest=manifest)
        print(f"=== starting cairn-agent (simulated {tee.upper()}, swtpm on port {swtpm.port})")
        agent = subprocess.Popen(["cairn-agent", "serve", "--config", str(config)])
        try:
            wait_healthy(port, agent)
            root = work / "simulated-root.pem"
            subprocess.run(
                ["cairn-agent", "export-root", "--config", str(config), "-o", str(root)],
                check=True,
            )
            print(f"=== cairn verify evidence http://127.0.0.1:{port}")
            verify = subprocess.run(
                [
                    "cairn", "verify", "evidence", f"http://127.0.0.1:{port}",
                    "--trust-simulated-root", str(root),
                    "--policy", str(write_policy(work, system)),
                    "--cache-dir", str(work / "cache"),
                ],
                check=False,
            )  # fmt: skip
            return verify.returncode
        finally:
            agent.terminate()
            try:
                agent.wait(timeout=10)
            except subprocess.TimeoutExpired:
                agent.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tee", choices=["snp", "tdx"], default="snp")
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temporary dir)")
    args = parser.parse_args()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=False)
        return run(args.tee, args.workdir)
    with tempfile.TemporaryDirectory(prefix="cairn-demo-") as work:
        os.chmod(work, 0o700)
        return run(args.tee, Path(work))


if __name__ == "__main__":
    sys.exit(main())
