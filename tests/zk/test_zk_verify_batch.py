"""``cairn zk verify`` of many proofs in one call: an agent (simulated SEV-SNP, real swtpm) attests
services whose key the test holds, two responses are signed as echo-rust signs them and proven
with ``cairn zk prove``; then one ``cairn zk verify`` checks them together — as files and as JSON
lines naming each proof's response — with a tampered proof and a malformed line among them. The
evidence is verified once and one Node process checks every proof; each input gets its own
result and the batch exits with the code of the first input that did not verify."""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fakes.agent_server import SERVICES, ServerThread, start_agent
from zk_helpers import sign_low_s

from cairn_agent.app import make_app
from cairn_agent.swtpm import running_swtpm
from cairn_verifier.binding.echo_signature import echo_digest
from cairn_verifier.cli import evidence_cmd
from cairn_verifier.cli.main import main
from cairn_verifier.zk import node

pytestmark = pytest.mark.zk_prove

REQUESTS = {"zk-a": "first response", "zk-b": "second response"}


@dataclass(frozen=True)
class Proven:
    evidence: Path
    root: Path
    nonce: str
    proofs: dict[str, Path]  # request id -> proof

    def verify_args(self, *inputs: str) -> list[str]:
        return [
            *("zk", "verify", *inputs, "--evidence", str(self.evidence), "--nonce", self.nonce),
            *("--offline", "--trust-simulated-root", str(self.root), "--insecure-dev-crs"),
        ]


@pytest.fixture(scope="module")
def proven(zk_toolchain: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proven]:
    work = tmp_path_factory.mktemp("zk-batch")
    key = ec.generate_private_key(ec.SECP256K1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    for name in SERVICES:  # the agent attests these keys instead of making its own
        (work / f"{name}.pub").write_text(public.hex() + "\n")
    nonce = secrets.token_hex(32)
    with running_swtpm(work / "swtpm") as swtpm:
        state, _ = start_agent(work, swtpm.tcti, "simulated-snp")
        with ServerThread(make_app(state)) as url:
            evidence = work / "evidence.json"
            evidence.write_bytes(httpx.get(f"{url}/v1/evidence?nonce={nonce}", timeout=60).content)
            tree_proof = work / "tree-proof.json"
            tree_proof.write_bytes(httpx.get(f"{url}/v1/services/echo-rust/proof").content)
        root = work / "root.pem"
        state.source.provider.export_trust_root(root)  # type: ignore[attr-defined]
    proofs = {}
    for request, payload in REQUESTS.items():
        signature = sign_low_s(key, echo_digest(request, payload)).hex()
        proofs[request] = work / f"{request}.json"
        prove = ["zk", "prove", "--evidence", str(evidence), "--proof", str(tree_proof)]
        prove += ["--request-id", request, "--payload", payload, "--signature", signature]
        assert main([*prove, "-o", str(proofs[request]), "--insecure-dev-crs"]) == 0
    yield Proven(evidence, root, nonce, proofs)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times the evidence is verified and a Node driver is started."""
    calls = {"evidence": 0, "driver": 0}
    verify_evidence, driver_run = evidence_cmd.verify_evidence_with_options, node.DriverRun

    def evidence(*args: Any, **kwargs: Any) -> Any:
        calls["evidence"] += 1
        return verify_evidence(*args, **kwargs)

    class Driver(driver_run):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            calls["driver"] += 1
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(evidence_cmd, "verify_evidence_with_options", evidence)
    monkeypatch.setattr(node, "DriverRun", Driver)
    return calls


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def _zk_checks(doc: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["outcome"] for c in doc["checks"] if c["component"] == "zk"}


def test_every_proof_of_a_batch_verifies_once_against_the_evidence(
    proven: Proven, counted: dict[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = [str(p) for p in proven.proofs.values()]
    assert main([*proven.verify_args(*inputs), "--any-response", "--json"]) == 0
    docs = _lines(capsys.readouterr().out)
    assert [d["input"] for d in docs] == inputs
    assert all(d["verified"] and d["exit_code"] == 0 for d in docs)
    hashes = [d["claims"]["zk"]["response_hash"] for d in docs]
    assert hashes == [echo_digest(r, p).hex() for r, p in REQUESTS.items()]
    assert counted == {"evidence": 1, "driver": 1}


def test_a_tampered_proof_fails_alone_and_decides_the_exit_code(
    proven: Proven,
    counted: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def line(request: str, doc: dict[str, Any] | None = None) -> str:
        proof = doc or json.loads(proven.proofs[request].read_text())
        return json.dumps({"proof": proof, "request_id": request, "payload": REQUESTS[request]})

    tampered = json.loads(proven.proofs["zk-b"].read_text())
    tampered["proof"] = tampered["proof"][:-2] + ("00" if tampered["proof"][-2:] != "00" else "01")
    stdin = "\n".join([line("zk-a"), line("zk-b", tampered), "{not json", line("zk-b")]) + "\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    assert main(proven.verify_args("-", "--jsonl")) == 2  # the tampered proof: signature invalid
    docs = _lines(capsys.readouterr().out)
    assert [d["input"] for d in docs] == [f"<stdin>:{n}" for n in (1, 2, 3, 4)]
    assert [d["exit_code"] for d in docs] == [0, 2, 10, 0]
    assert _zk_checks(docs[1]) == {
        "zk-claims-commitment": "pass",
        "zk-response-hash": "pass",
        "zk-proof": "fail",
    }
    assert docs[0]["verified"] and docs[3]["verified"]
    assert counted == {"evidence": 1, "driver": 1}

    # As files, checked against one response named on the command line: the other proof is
    # about another response (content mismatch, 1); the text output ends with a summary.
    files = [str(p) for p in proven.proofs.values()]
    named = ["--request-id", "zk-a", "--payload", REQUESTS["zk-a"]]
    assert main([*proven.verify_args(*files), *named]) == 1
    out = capsys.readouterr().out
    assert "Batch: 1 of 2 verified; exit 1 (the first input that did not verify)" in out
