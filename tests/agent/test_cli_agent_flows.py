"""The README's evidence sequence against a real agent (swtpm + simulated SEV-SNP), with the
commands as documented: fetch and keep a bundle from HOST:PORT, decode it, prove a service is in
its tree and check the proof against the tree root that verification printed."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from fakes.agent_server import RunningAgent

from cairn_verifier.cli.main import main


def _root(agent: RunningAgent) -> str:
    path = agent.workdir / "simulated-root.pem"
    if not path.exists():
        agent.state.source.provider.export_trust_root(path)  # type: ignore[attr-defined]
    return str(path)


@pytest.mark.parametrize("agent", ["simulated-snp"], indirect=True)
def test_readme_evidence_sequence(
    agent: RunningAgent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = ["--offline", "--trust-simulated-root", _root(agent)]
    address = agent.url.removeprefix("http://")  # 127.0.0.1:PORT, as a user types it
    saved = tmp_path / "evidence.json"

    assert main(["verify", "evidence", address, "-o", str(saved), "--json", *trust]) == 0
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert f"assuming an agent at {agent.url}" in out.err
    assert result["subject"] == f"{agent.url}/v1/evidence"
    tree_root, nonce = result["claims"]["tree_root"], result["claims"]["nonce"]

    # The saved bundle is what the agent sent: it verifies again later with its nonce.
    assert json.loads(saved.read_text())["claims"]["nonce"] == nonce
    assert main(["verify", "evidence", str(saved), "--nonce", nonce, *trust]) == 0
    capsys.readouterr()

    assert main(["show", "evidence", str(saved), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["fields"]["claims"]["tree_root"] == tree_root
    assert shown["fields"]["tpm"]["extra_data"] == nonce  # the TPM quote answers the nonce
    assert shown["fields"]["tee"]["kind"] == "sev-snp-simulated"

    proof = tmp_path / "proof.json"
    service = shown["fields"]["claims"]["services"][0]["name"]
    assert main(["tree", "proof", str(saved), service, "-o", str(proof)]) == 0
    assert main(["tree", "verify", str(proof), "--root", tree_root]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("agent", ["simulated-snp"], indirect=True)
def test_agent_addresses_and_save(
    agent: RunningAgent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trust = ["--json", "--offline", "--trust-simulated-root", _root(agent)]
    for given in (f"{agent.url}/v1/evidence", f"{agent.url}/v1/evidence/", f"{agent.url}/"):
        assert main(["verify", "evidence", given, *trust]) == 0, given
        out = capsys.readouterr()
        assert json.loads(out.out)["subject"] == f"{agent.url}/v1/evidence"  # never doubled
        assert out.err == ""  # nothing assumed

    saved = tmp_path / "kept.json"
    saved.write_text("not to be lost")
    argv = ["verify", "evidence", agent.url, "--save", str(saved), *trust]
    assert main(argv) == 64  # an existing file is never replaced without --force
    assert "already exists" in json.loads(capsys.readouterr().out)["error"]["message"]
    assert saved.read_text() == "not to be lost"
    assert main([*argv, "--force"]) == 0
    capsys.readouterr()
    assert json.loads(saved.read_text())["format"] == "cairn-evidence"

    assert main(["verify", "evidence", f"{agent.url}/v1/evidence?nonce=00", *trust]) == 64
    assert "--nonce" in json.loads(capsys.readouterr().out)["error"]["hint"]


def test_an_unreachable_host_port_is_evidence_unavailable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    saved = tmp_path / "evidence.json"
    argv = ["verify", "evidence", f"127.0.0.1:{port}", "-o", str(saved), "--json", "--offline"]
    assert main(argv) == 6
    out = capsys.readouterr()
    assert f"assuming an agent at http://127.0.0.1:{port}" in out.err
    assert json.loads(out.out)["error"]["type"] == "EvidenceUnavailableError"
    assert not saved.exists()
