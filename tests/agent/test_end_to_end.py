"""Agent to verifier over real HTTP, with a real swtpm per test and a simulated TEE trusted
explicitly: fresh evidence verifies; replays, changed services, swapped keys, PCR changes and
tampered reports are rejected with the documented exit codes."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
from pathlib import Path

import httpx
import pytest
from fakes.agent_server import RunningAgent, write_key

from cairn_verifier.cli.main import main


def _root(agent: RunningAgent) -> Path:
    path = agent.workdir / "simulated-root.pem"
    if not path.exists():
        agent.state.source.provider.export_trust_root(path)  # type: ignore[attr-defined]
    return path


def _fetch(agent: RunningAgent, nonce: bytes) -> dict[str, object]:
    answer = httpx.get(f"{agent.url}/v1/evidence", params={"nonce": nonce.hex()}, timeout=60)
    assert answer.status_code == 200, answer.text
    document: dict[str, object] = answer.json()
    return document


def _cli(agent: RunningAgent, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json", "--offline", "--trust-simulated-root", str(_root(agent))])
    return code, json.loads(capsys.readouterr().out)


def _failed(doc: dict) -> list[str]:
    return [c["name"] for c in doc["checks"] if c["outcome"] == "fail"]


def test_fresh_evidence_verifies(agent: RunningAgent, capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = _cli(agent, capsys, "verify", "evidence", agent.url)
    assert code == 0, doc
    assert any("SIMULATED" in w.upper() or "simulated" in w for w in doc["warnings"])
    names = {c["name"] for c in doc["checks"] if c["outcome"] == "pass"}
    assert {"nonce", "service-tree", "report-data", "tpm-quote-nonce", "tpm-pcr-digest"} <= names


def test_a_reused_nonce_is_rejected(
    agent: RunningAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    old = secrets.token_bytes(32)
    bundle = _fetch(agent, old)
    path = agent.workdir / "old.json"
    path.write_text(json.dumps(bundle))
    fresh = secrets.token_bytes(32)
    code, doc = _cli(agent, capsys, "verify", "evidence", str(path), "--nonce", fresh.hex())
    assert code == 1
    assert _failed(doc)[0] == "nonce"
    code, doc = _cli(agent, capsys, "verify", "evidence", str(path), "--nonce", old.hex())
    assert code == 0, doc


def test_a_changed_service_list_is_rejected(
    agent: RunningAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    nonce = secrets.token_bytes(32)
    bundle = _fetch(agent, nonce)
    claims = bundle["claims"]
    assert isinstance(claims, dict)
    claims["services"] = claims["services"][:1]  # drop a service, keep the committed root
    path = agent.workdir / "fewer.json"
    path.write_text(json.dumps(bundle))
    code, doc = _cli(agent, capsys, "verify", "evidence", str(path), "--nonce", nonce.hex())
    assert code == 1
    assert _failed(doc)[0] == "service-tree"


def test_a_swapped_key_file_changes_the_attested_tree(
    agent: RunningAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    before = httpx.get(f"{agent.url}/v1/services").json()
    old_key = next(s["public_key"] for s in before["services"] if s["name"] == "echo-cpp")
    write_key(agent.key_file("echo-cpp"))
    os.utime(agent.key_file("echo-cpp"), ns=(1, 10**18))  # make the change visible at once
    after = httpx.get(f"{agent.url}/v1/services").json()
    assert after["tree_root"] != before["tree_root"]
    policy = agent.workdir / "pinned.toml"
    policy.write_text(
        f'[evidence.services.echo-cpp]\npublic_keys = ["{old_key}"]\n'
        "[evidence]\nallow_unlisted_services = true\n"
    )
    code, doc = _cli(agent, capsys, "verify", "evidence", agent.url, "--policy", str(policy))
    assert code == 1
    assert "service-echo-cpp" in _failed(doc)


def test_a_pcr_change_is_rejected(agent: RunningAgent, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = _fetch(agent, secrets.token_bytes(32))
    tpm = bundle["tpm"]
    assert isinstance(tpm, dict)
    pcr16 = tpm["pcrs"]["sha256"]["16"]
    policy = agent.workdir / "pcrs.toml"
    policy.write_text(f'[evidence.pcrs.sha256]\n16 = "{pcr16}"\n')
    code, _ = _cli(agent, capsys, "verify", "evidence", agent.url, "--policy", str(policy))
    assert code == 0
    subprocess.run(
        ["tpm2_pcrextend", "16:sha256=" + "cd" * 32],
        check=True,
        env={**os.environ, "TPM2TOOLS_TCTI": agent.tcti},
        capture_output=True,
    )
    code, doc = _cli(agent, capsys, "verify", "evidence", agent.url, "--policy", str(policy))
    assert code == 1
    assert _failed(doc) == ["pcr-sha256-16"]


def test_a_tampered_report_is_rejected(
    agent: RunningAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    nonce = secrets.token_bytes(32)
    bundle = _fetch(agent, nonce)
    tee = bundle["tee"]
    assert isinstance(tee, dict)
    report = bytearray(base64.b64decode(tee["report"]))
    report[0x50] ^= 0x01  # inside REPORT_DATA (SNP) / the TD report body (TDX): signed bytes
    tee["report"] = base64.b64encode(bytes(report)).decode()
    path = agent.workdir / "tampered.json"
    path.write_text(json.dumps(bundle))
    code, _ = _cli(agent, capsys, "verify", "evidence", str(path), "--nonce", nonce.hex())
    assert code == 2


def test_without_the_simulated_root_nothing_verifies(
    agent: RunningAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["verify", "evidence", agent.url, "--json", "--offline"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 3
    assert "tee-kind" in _failed(doc)
