"""The whole ZK story, end to end: an agent (simulated SEV-SNP, real swtpm) attests a real
echo-rust service binary; the service signs a response; ``cairn zk prove`` makes a membership
proof from the evidence, the service's tree proof and the response; ``cairn zk verify`` accepts
it (and re-verifies the evidence); a proof with a flipped public input is rejected."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fakes.agent_server import ServerThread, start_agent

from cairn_agent.app import make_app
from cairn_agent.swtpm import running_swtpm
from cairn_verifier.binding.echo_signature import echo_digest, parse_echo_response
from cairn_verifier.cli.main import main

REPO = Path(__file__).resolve().parents[2]
BUILD_DIR = REPO / ".build" / "services"

pytestmark = pytest.mark.zk_prove


@pytest.fixture(scope="module")
def echo_rust(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path]]:
    """A running echo-rust binary: (host, port, public key file)."""
    subprocess.run(
        ["bash", str(REPO / "scripts" / "build_services.sh"), "--build-dir", str(BUILD_DIR)],
        check=True,
        capture_output=True,
    )
    binary = next(BUILD_DIR.rglob("release/echo-rust"))
    state = tmp_path_factory.mktemp("echo-rust")
    public_key = state / "public-key"
    process = subprocess.Popen(
        [str(binary), "--listen", "127.0.0.1:0", "--state-dir", str(state / "state"),
         "--public-key-file", str(public_key)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("listening on "), line
    host, port = line.split()[-1].rsplit(":", 1)
    try:
        yield host, int(port), public_key
    finally:
        process.terminate()
        process.wait(timeout=10)


def _ask(host: str, port: int, request: str) -> bytes:
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(request.encode() + b"\n")
        return conn.makefile("rb").readline()


def test_prove_and_verify_a_signed_response(
    echo_rust: tuple[str, int, Path],
    zk_toolchain: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host, port, public_key = echo_rust
    (tmp_path / "echo-rust.pub").write_text(public_key.read_text())
    with running_swtpm(tmp_path / "swtpm") as swtpm:
        state, _ = start_agent(tmp_path, swtpm.tcti, "simulated-snp")
        assert state.self_check["status"] == "passed", state.self_check
        with ServerThread(make_app(state)) as url:
            nonce = secrets.token_bytes(32)
            evidence = tmp_path / "evidence.json"
            evidence.write_bytes(
                httpx.get(f"{url}/v1/evidence", params={"nonce": nonce.hex()}, timeout=60).content
            )
            tree_proof = tmp_path / "tree-proof.json"
            tree_proof.write_bytes(httpx.get(f"{url}/v1/services/echo-rust/proof").content)
            root = tmp_path / "root.pem"
            state.source.provider.export_trust_root(root)  # type: ignore[attr-defined]

    response = parse_echo_response(_ask(host, port, "zk-1 hello from alice"))
    assert response.payload == b"hello from alice"
    proof = tmp_path / "zk-proof.json"
    prove = ["zk", "prove", "--evidence", str(evidence), "--proof", str(tree_proof)]
    prove += ["--request-id", "zk-1", "--payload", "hello from alice"]
    prove += ["--signature", response.signature.hex(), "-o", str(proof), "--insecure-dev-crs"]
    assert main([*prove, "--json"]) == 0
    captured = capsys.readouterr()
    # The same document shape as every other result; the insecure CRS is also said on stderr.
    made = json.loads(captured.out)
    assert (made["verified"], made["exit_code"], made["subject"]) == (True, 0, str(proof))
    assert [c["name"] for c in made["checks"]] == [
        "zk-service-proof",
        "zk-response-signature",
        "zk-proof-written",
    ]
    assert made["claims"]["zk"]["insecure_dev_crs"] is True
    assert any("INSECURE DEVELOPMENT CRS" in w for w in made["warnings"])
    assert "INSECURE DEVELOPMENT CRS" in captured.err
    assert "cairn zk [" not in captured.err  # no progress lines when stderr is not a terminal
    written = proof.read_text()
    assert main(prove) == 64  # never overwritten without --force
    assert proof.read_text() == written
    capsys.readouterr()

    verify = ["zk", "verify", str(proof), "--evidence", str(evidence), "--nonce", nonce.hex()]
    verify += ["--request-id", "zk-1", "--payload", "hello from alice", "--offline", "--json"]
    verify += ["--trust-simulated-root", str(root), "--insecure-dev-crs"]
    assert main(verify) == 0, capsys.readouterr().out
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert any("INSECURE DEVELOPMENT CRS" in w for w in doc["warnings"])
    assert "INSECURE DEVELOPMENT CRS" in captured.err
    assert "echo-rust" not in json.dumps(doc["claims"]["zk"])
    names = [c["name"] for c in doc["checks"] if c["component"] == "zk"]
    assert names == ["zk-claims-commitment", "zk-response-hash", "zk-proof"]
    response_hash = echo_digest("zk-1", "hello from alice").hex()
    assert doc["claims"]["zk"]["response_hash"] == response_hash
    assert doc["claims"]["zk"]["response_checked"] is True

    # The text output names the response the proof is about.
    text_verify = [a for a in verify if a != "--json"]
    assert main(text_verify) == 0
    assert response_hash in capsys.readouterr().out

    # Without the request: refused (64) unless --any-response, which is a loud SKIP, never a
    # silent VERIFIED about an unnamed response.
    anonymous = [a for a in text_verify if a not in ("--request-id", "zk-1", "--payload")]
    anonymous.remove("hello from alice")
    assert main(anonymous) == 64
    assert "--any-response" in capsys.readouterr().err
    assert main([*anonymous, "--any-response", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    skipped = next(c for c in doc["checks"] if c["name"] == "zk-response-hash")
    assert skipped["outcome"] == "skipped" and response_hash in skipped["summary"]
    assert doc["claims"]["zk"]["response_checked"] is False
    assert any("NOT checked" in w and response_hash in w for w in doc["warnings"])
    assert main([*anonymous, "--any-response"]) == 0
    out = capsys.readouterr().out
    assert "SKIP" in out and "NOT CHECKED" in out and response_hash in out
    assert out.splitlines()[0].endswith(f"hash {response_hash} (NOT CHECKED: --any-response)")

    # Another request: a content mismatch (1), whatever the proof.
    other = [*verify]
    other[other.index("zk-1")] = "zk-2"
    assert main(other) == 1
    capsys.readouterr()

    flipped = json.loads(proof.read_text())
    value = int(flipped["public_inputs"][2], 16)
    flipped["public_inputs"][2] = f"0x{value ^ 1:064x}"
    proof.write_text(json.dumps(flipped))
    assert main(verify) != 0
