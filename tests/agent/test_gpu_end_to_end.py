"""GPUs end to end: an agent (swtpm + simulated SEV-SNP + two simulated H100s) collects GPU
reports for the SPDM nonce derived from the verifier's nonce, binds their digest into REPORT_DATA,
and `cairn verify evidence` verifies them through the GPU pipeline. Replayed, altered, removed or
added GPU evidence fails with the documented check and exit code."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakes.agent_server import ServerThread, start_agent

from cairn_agent.app import AgentState, make_app
from cairn_agent.evidence import EvidenceSource
from cairn_agent.gpu.base import GpuDevice
from cairn_agent.gpu.simulated import SimulatedGpuProvider
from cairn_agent.swtpm import running_swtpm
from cairn_verifier.api import dump_evidence, gpu_nonce
from cairn_verifier.cli.main import main


@dataclass(frozen=True)
class GpuAgent:
    url: str
    state: AgentState
    workdir: Path
    tee_root: Path
    gpu_root: Path

    @property
    def gpu(self) -> SimulatedGpuProvider:
        gpu = self.state.source.gpu
        assert isinstance(gpu, SimulatedGpuProvider)
        return gpu


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GpuAgent]:
    workdir = tmp_path_factory.mktemp("gpu-agent")
    with running_swtpm(workdir / "swtpm") as swtpm:
        state, _ = start_agent(
            workdir, swtpm.tcti, "simulated-snp", {"provider": "simulated", "simulated_count": 2}
        )
        assert state.self_check["status"] == "passed", state.self_check
        assert any("SIMULATED" in w for w in state.self_check["warnings"])
        tee_root, gpu_root = workdir / "tee-root.pem", workdir / "gpu-root.pem"
        state.source.provider.export_trust_root(tee_root)  # type: ignore[attr-defined]
        gpu = state.source.gpu
        assert isinstance(gpu, SimulatedGpuProvider)
        gpu.export_trust_root(gpu_root)
        with ServerThread(make_app(state)) as url:
            yield GpuAgent(url, state, workdir, tee_root, gpu_root)


def _bundle(agent: GpuAgent, nonce: bytes, source: EvidenceSource | None = None) -> dict[str, Any]:
    source = source or agent.state.source
    document: dict[str, Any] = json.loads(
        dump_evidence(source.collect(nonce, agent.state.inventory.current()))
    )
    return document


def _verify(
    agent: GpuAgent,
    capsys: pytest.CaptureFixture[str],
    document: dict[str, Any],
    nonce: bytes,
    *,
    trust_gpu: bool = True,
) -> tuple[int, dict[str, Any]]:
    path = agent.workdir / f"bundle-{secrets.token_hex(4)}.json"
    path.write_text(json.dumps(document))
    roots = ["--trust-simulated-root", str(agent.tee_root)]
    if trust_gpu:
        roots += ["--trust-simulated-root", str(agent.gpu_root)]
    code = main(
        ["verify", "evidence", str(path), "--nonce", nonce.hex(), "--json", "--offline", *roots]
    )
    return code, json.loads(capsys.readouterr().out)


def _failed(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["name"], c["component"]) for c in doc["checks"] if c["outcome"] == "fail"]


def _passed(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["name"], c["component"]) for c in doc["checks"] if c["outcome"] == "pass"}


def test_the_agents_gpus_verify_inside_the_bundle_over_http(
    agent: GpuAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "verify",
            "evidence",
            agent.url,
            "--json",
            "--offline",
            "--trust-simulated-root",
            str(agent.tee_root),
            "--trust-simulated-root",
            str(agent.gpu_root),
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, _failed(doc)
    passed = _passed(doc)
    assert {("gpu-digest", "GPU evidence"), ("gpu-evidence", "GPU evidence")} <= passed
    for device in ("GPU 0", "GPU 1"):
        assert {("spdm-signature", device), ("spdm-nonce", device), ("fwid", device)} <= passed
    assert "report-data" in {name for name, _ in passed}
    gpu = doc["claims"]["gpu"]
    nonce = bytes.fromhex(doc["claims"]["nonce"])
    assert gpu["gpu_nonce"] == gpu_nonce(nonce).hex()
    assert [d["nonce"] for d in gpu["devices"]] == [gpu_nonce(nonce).hex()] * 2
    assert any(w.startswith("SIMULATED: the GPU evidence") for w in doc["warnings"])


def test_show_evidence_lists_the_agents_gpus_for_the_derived_nonce(
    agent: GpuAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    nonce = secrets.token_bytes(32)
    path = agent.workdir / "shown.json"
    path.write_text(json.dumps(_bundle(agent, nonce)))
    assert main(["show", "evidence", str(path), "--json"]) == 0
    fields = json.loads(capsys.readouterr().out)["fields"]
    devices = fields["gpu"]["devices"]
    assert fields["gpu"]["digest"] == fields["claims"]["gpu_digest"]
    assert [(d["kind"], d["family"]) for d in devices] == [("GPU", "GH100")] * 2
    assert [d["nonce"] for d in devices] == [gpu_nonce(nonce).hex()] * 2
    assert all(d["fwid"] and d["driver_version"] and d["measurement_blocks"] for d in devices)


def test_a_bundle_without_gpus_still_verifies_and_omits_the_gpu_member(
    agent: GpuAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    source = agent.state.source
    plain = EvidenceSource(source.provider, source.tpm, source.pcrs, source.bank)
    nonce = secrets.token_bytes(32)
    document = _bundle(agent, nonce, plain)
    assert "gpu" not in document and document["claims"]["gpu_digest"] is None
    code, doc = _verify(agent, capsys, document, nonce)
    assert code == 0, _failed(doc)
    assert not any(c["name"].startswith("gpu") for c in doc["checks"])


def test_the_simulated_gpu_is_refused_unless_its_root_is_named(
    agent: GpuAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    nonce = secrets.token_bytes(32)
    code, doc = _verify(agent, capsys, _bundle(agent, nonce), nonce, trust_gpu=False)
    assert code == 3
    assert _failed(doc)[0] == ("device-root-pinned", "GPU 0")
    assert ("gpu-evidence", "GPU evidence") in _failed(doc)


class _Replaying:
    """A compromised VM's GPU provider: it answers every nonce with reports made earlier."""

    name = "replaying"
    simulated = True

    def __init__(self, devices: tuple[GpuDevice, ...]):
        self.devices = devices

    def get_gpu_evidence(self, nonce: bytes) -> tuple[GpuDevice, ...]:
        return self.devices

    def describe(self) -> str:
        return "replays old GPU reports"


def test_replayed_gpu_reports_fail_the_spdm_nonce_even_when_bound_into_report_data(
    agent: GpuAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    old = agent.gpu.get_gpu_evidence(gpu_nonce(secrets.token_bytes(32)))
    source = agent.state.source
    replaying = EvidenceSource(source.provider, source.tpm, source.pcrs, source.bank)
    replaying.gpu = _Replaying(old)
    nonce = secrets.token_bytes(32)
    code, doc = _verify(agent, capsys, _bundle(agent, nonce, replaying), nonce)
    assert code == 1
    failed = _failed(doc)
    assert failed[0] == ("spdm-nonce", "GPU 0")
    assert ("spdm-nonce", "GPU 1") in failed
    passed = {name for name, _ in _passed(doc)}
    assert {"gpu-digest", "report-data", "spdm-signature"} <= passed  # bound and authentic


def test_gpu_evidence_from_another_bundle_fails_the_digest(
    agent: GpuAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier = _bundle(agent, secrets.token_bytes(32))
    nonce = secrets.token_bytes(32)
    document = _bundle(agent, nonce)
    document["gpu"] = earlier["gpu"]
    code, doc = _verify(agent, capsys, document, nonce)
    assert code == 1
    assert _failed(doc) == [("gpu-digest", "GPU evidence")]


def test_an_altered_gpu_report_fails_the_digest_and_if_rebound_the_signature(
    agent: GpuAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    nonce = secrets.token_bytes(32)
    document = _bundle(agent, nonce)
    report = bytearray(base64.b64decode(document["gpu"]["devices"][1]["report"]))
    report[60] ^= 0x01  # a measurement byte, inside the signed range
    document["gpu"]["devices"][1]["report"] = base64.b64encode(bytes(report)).decode()
    code, doc = _verify(agent, capsys, document, nonce)
    assert (code, _failed(doc)) == (1, [("gpu-digest", "GPU evidence")])

    honest = agent.gpu.get_gpu_evidence(gpu_nonce(nonce))
    altered = (honest[0], GpuDevice(bytes(report), honest[1].certificates))
    source = agent.state.source
    rebinding = EvidenceSource(source.provider, source.tpm, source.pcrs, source.bank)
    rebinding.gpu = _Replaying(altered)  # the agent itself hashes the altered report
    code, doc = _verify(agent, capsys, _bundle(agent, nonce, rebinding), nonce)
    assert code == 2
    assert _failed(doc)[0] == ("spdm-signature", "GPU 1")


def test_removed_or_added_gpu_evidence_fails_the_binding(
    agent: GpuAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    nonce = secrets.token_bytes(32)
    removed = _bundle(agent, nonce)
    del removed["gpu"]
    code, doc = _verify(agent, capsys, removed, nonce)
    assert code == 1
    assert ("gpu-evidence", "GPU evidence") in _failed(doc)

    source = agent.state.source
    plain = EvidenceSource(source.provider, source.tpm, source.pcrs, source.bank)
    added = _bundle(agent, nonce, plain)
    added["gpu"] = _bundle(agent, nonce)["gpu"]
    code, doc = _verify(agent, capsys, added, nonce)
    assert code == 1
    assert _failed(doc) == [("gpu-evidence", "GPU evidence")]


def test_the_gpu_policy_applies_inside_the_bundle(
    agent: GpuAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    nonce = secrets.token_bytes(32)
    document = _bundle(agent, nonce)
    policy = agent.workdir / "gpu-policy.toml"
    policy.write_text('[gpu]\ndevice_counts = { GH100 = 4 }\nminimum_driver_version = "560.0"\n')
    path = agent.workdir / "policy-bundle.json"
    path.write_text(json.dumps(document))
    code = main(
        [
            "verify",
            "evidence",
            str(path),
            "--nonce",
            nonce.hex(),
            "--json",
            "--offline",
            "--policy",
            str(policy),
            "--trust-simulated-root",
            str(agent.tee_root),
            "--trust-simulated-root",
            str(agent.gpu_root),
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 4
    failed = _failed(doc)
    assert ("driver-version", "GPU 0") in failed and ("device-count", "evidence") in failed


def test_an_agent_with_simulated_nvswitches_passes_its_self_check_and_verifies_over_http(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """gpu.switches = "simulated": the agent (swtpm, simulated SEV-SNP) attests two GPUs and two
    NVSwitches for the derived nonce, its own self-check verifies them, and `cairn verify
    evidence` over HTTP accepts the node only with the switches the policy counts."""
    gpu = {
        "provider": "simulated",
        "simulated_count": 2,
        "switches": "simulated",
        "simulated_switch_count": 2,
    }
    with running_swtpm(tmp_path / "swtpm") as swtpm:
        state, _ = start_agent(tmp_path, swtpm.tcti, "simulated-snp", gpu)
        assert state.self_check["status"] == "passed", state.self_check
        tee_root, gpu_root = tmp_path / "tee-root.pem", tmp_path / "gpu-root.pem"
        state.source.provider.export_trust_root(tee_root)  # type: ignore[attr-defined]
        simulated = state.source.gpu
        assert isinstance(simulated, SimulatedGpuProvider)
        simulated.export_trust_root(gpu_root)
        roots = ["--trust-simulated-root", str(tee_root), "--trust-simulated-root", str(gpu_root)]
        with ServerThread(make_app(state)) as url:
            for counts, expected in (("GH100 = 2, LS_10 = 2", 0), ("GH100 = 2, LS_10 = 4", 4)):
                policy = tmp_path / "node.toml"
                policy.write_text(f"[gpu]\ndevice_counts = {{ {counts} }}\n")
                argv = ["verify", "evidence", url, "--json", "--offline", "--policy", str(policy)]
                code = main([*argv, *roots])
                doc = json.loads(capsys.readouterr().out)
                assert code == expected, _failed(doc)
    kinds = [(d["kind"], d["family"]) for d in doc["claims"]["gpu"]["devices"]]
    assert kinds == [("GPU", "GH100")] * 2 + [("NVSwitch", "LS_10")] * 2
    assert ("device-count", "evidence") in _failed(doc)
