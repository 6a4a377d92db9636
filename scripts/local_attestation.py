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

from cairn_agent.demo import SERVICES
from cairn_agent.swtpm import free_port_pair, running_swtpm, wait_for_port


def init_demo(work: Path, tee: str, port: int, tpm_port: int) -> tuple[Path, str]:
    """`cairn-agent init-demo` (what docs/agent.md's by-hand run uses): config, system stand-in,
    services manifest and the echo services' keys; returns the config and the system path."""
    demo = work / "demo"
    subprocess.run(
        [
            "cairn-agent", "init-demo", str(demo), "--tee", tee,
            "--port", str(port), "--tpm-port", str(tpm_port),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return demo / "agent.toml", os.readlink(demo / "current-system")


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
    with running_swtpm(work / "swtpm") as swtpm:
        port = free_port_pair()
        config, system = init_demo(work, tee, port, swtpm.port)
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
