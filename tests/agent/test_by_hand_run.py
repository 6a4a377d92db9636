"""docs/agent.md's by-hand run and the README's steps that continue it, executed as written: the
shell blocks marked ``<!-- by-hand-run -->`` (docs/agent.md) and then ``<!-- readme-flow -->``
(README: response checks, zero-knowledge prove and verify) run in one bash, in a fresh directory,
with only the ports changed to free ones and the Ignition CRS replaced by the development CRS
(the real one cannot be fetched here). Real swtpm, real ``cairn-agent serve``, real echo
services, real ``cairn``, real Noir proving."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cairn_agent.swtpm import free_port_pair
from cairn_verifier.binding.echo_signature import verify_echo_signature
from cairn_verifier.zk import node

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = REPO_ROOT / "docs" / "agent.md"
README = REPO_ROOT / "README.md"
BUILD_DIR = REPO_ROOT / ".build" / "services"
MARKER = "<!-- by-hand-run -->"
README_MARKER = "<!-- readme-flow -->"
IGNITION_CRS = "--crs ~/cairn-crs"
HANG_GUARD_SECONDS = 600  # only so a broken step fails instead of hanging; never a measurement


def marked_blocks(text: str, marker: str = MARKER) -> list[str]:
    """The ```sh blocks that directly follow ``marker``, in order."""
    blocks = re.findall(re.escape(marker) + r"\n```sh\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == text.count(marker), "every marker must precede a ```sh block"
    return blocks


def documented_script() -> str:
    """docs/agent.md's marked blocks, then the README's (dev CRS for the Ignition CRS)."""
    readme = "\n".join(marked_blocks(README.read_text(encoding="utf-8"), README_MARKER))
    assert readme.count(IGNITION_CRS) == 2, "the README's zk steps name the Ignition CRS"
    readme = readme.replace(IGNITION_CRS, "--insecure-dev-crs")
    return "\n".join(marked_blocks(DOC.read_text(encoding="utf-8"))) + "\n" + readme


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_ports(script: str, ports: dict[int, int]) -> str:
    """The documented ports replaced by free ones (whole numbers only)."""
    for documented, free in ports.items():
        assert re.search(rf"\b{documented}\b", script), f"port {documented} not in the doc"
        script = re.sub(rf"\b{documented}\b", str(free), script)
    return script


@pytest.fixture(scope="module")
def services_built() -> Path:
    """The echo services, built incrementally like tests/services and tests/zk do."""
    subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "build_services.sh"), "--build-dir", str(BUILD_DIR)],
        check=True,
        capture_output=True,
        timeout=HANG_GUARD_SECONDS,
    )
    return BUILD_DIR


def test_the_doc_blocks_are_found() -> None:
    blocks = marked_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 3
    assert blocks[0].startswith("cairn-agent init-demo demo")
    readme = marked_blocks(README.read_text(encoding="utf-8"), README_MARKER)
    assert [("cairn verify response" in b, "cairn zk prove" in b) for b in readme] == [
        (True, False),
        (False, True),
    ]


def test_the_by_hand_run_works_as_documented(services_built: Path, tmp_path: Path) -> None:
    node.check_toolchain()  # the README's zk steps: a SetupError naming `npm ci` if missing
    for tool in ("swtpm", "curl", "openssl"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: docs/agent.md's by-hand run needs it (apt-get)")
    tpm_port = free_port_pair()
    ports = {8080: free_port(), 2321: tpm_port, 2322: tpm_port + 1}
    ports |= {7001: free_port(), 7002: free_port()}
    script = with_ports(documented_script(), ports)
    (tmp_path / ".build").symlink_to(services_built.parent)
    wrapped = f"""set -euo pipefail
cleanup() {{
    kill $(jobs -p) 2>/dev/null || true
    if [ -f demo/swtpm.pid ]; then kill "$(cat demo/swtpm.pid)" 2>/dev/null || true; fi
    wait || true
}}
trap cleanup EXIT
{script}
printf 'RESULT NONCE_HEX=%s SIG_HEX=%s TREE_ROOT=%s\\n' "$NONCE_HEX" "$SIG_HEX" "$TREE_ROOT"
"""
    bin_dir = str(Path(sys.executable).parent)  # cairn and cairn-agent of this environment
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", wrapped],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )
    agent_log = tmp_path / "demo" / "agent.log"
    log = agent_log.read_text() if agent_log.exists() else "(no agent log)"
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\nagent log:\n{log}"

    result = dict(item.split("=", 1) for item in done.stdout.splitlines()[-1].split()[1:])
    assert "Result: VERIFIED (exit 0)" in done.stdout
    assert "SIMULATED" in done.stdout
    evidence = json.loads((tmp_path / "evidence.json").read_text())
    assert evidence["claims"]["nonce"] == result["NONCE_HEX"]
    assert {s["name"] for s in evidence["claims"]["services"]} == {"echo-cpp", "echo-rust"}
    proof = json.loads((tmp_path / "tree-proof.json").read_text())
    assert proof["root"] == result["TREE_ROOT"]
    # the echo-rust that answered signs with the key the attested tree commits to
    public_key = bytes.fromhex(proof["service"]["public_key"])
    signature = bytes.fromhex(result["SIG_HEX"])
    assert verify_echo_signature(public_key, "req-1", "hello", signature)
    assert "self-check passed" in log

    # README: the response checks (both pass) and the zero-knowledge proof about req-1
    assert (tmp_path / "response.txt").read_text().startswith("OK req-2 68656c6c6f ")
    assert done.stdout.count("Result: VERIFIED (exit 0)") >= 4
    made = json.loads((tmp_path / "zk-proof.json").read_text())
    assert made["insecure_dev_crs"] is True
    assert "zk-proof" in done.stdout and "zk-response-hash" in done.stdout
    assert "INSECURE" in done.stderr or "insecure" in done.stderr
