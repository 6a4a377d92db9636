"""The NSCQ NVSwitch provider against a fake libnvidia-nscq (tests/fakes/fake_nscq.c, compiled here
with the declarations NVIDIA publishes for NSCQ attestation; no NVSwitch exists on this machine):
REAL LS10 reports and chains come back byte for byte and verify for the nonce they were made
for, the nonce reaches every switch, switches outside TNVL-locked mode are not attested, NSCQ's
errors are explained; and an agent bundle with GPUs (fake NVML) and NVSwitches (fake NSCQ,
serving switches signed by the simulated GPU root for the derived nonce) passes `cairn verify
evidence`, while a missing, extra or removed switch fails it."""

from __future__ import annotations

import json
import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from cairn_agent.config import AgentConfig
from cairn_agent.evidence import EvidenceSource
from cairn_agent.gpu.base import GpuDevice, ProviderError
from cairn_agent.gpu.node import NodeGpuProvider
from cairn_agent.gpu.nscq import NscqSwitchProvider
from cairn_agent.gpu.simulated import SimulatedGpuProvider
from cairn_agent.inventory import Inventory
from cairn_agent.startup import open_gpu
from cairn_agent.tee.simulated_snp import SimulatedSnpProvider
from cairn_verifier.api import dump_evidence, gpu_nonce
from cairn_verifier.checks import Outcome
from cairn_verifier.cli.main import main
from cairn_verifier.gpu.verify import GpuVerifyRequest, verify_gpu_evidence
from cairn_verifier.inputs.gpu import read_gpu_evidence

FAKES = Path(__file__).resolve().parents[1] / "fakes"
PPCIE_SWITCHES = "gpu/nvtrust/switch_evidence.json"
PPCIE_NONCE = bytes.fromhex("4760e30534a0621357d458b1a7936551b5dc4cd1e69718adf7ed9fb0252a537e")
LOCKED = 3  # TNVL enabled (bit 0) and locked (bit 1)


def _compile(source: str, out: Path) -> Path:
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", str(out), str(FAKES / source)],
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def nscq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _compile("fake_nscq.c", tmp_path_factory.mktemp("fake-nscq") / "libnvidia-nscq.so.2")


@pytest.fixture(scope="module")
def nvml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _compile("fake_nvml.c", tmp_path_factory.mktemp("fake-nvml") / "libnvidia-ml.so.1")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> SimulatedGpuProvider:
    return SimulatedGpuProvider(tmp_path_factory.mktemp("gpu-state"), count=2, switches=3)


@pytest.fixture
def switches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The NSCQ fake's directory (no switches yet)."""
    directory = tmp_path / "nscq"
    directory.mkdir()
    monkeypatch.setenv("FAKE_NSCQ_DIR", str(directory))
    (directory / "count").write_text("0")
    return directory


def _pem(chain: tuple[bytes, ...]) -> bytes:
    return b"".join(
        x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        for der in chain
    )


def _serve(directory: Path, devices: list[GpuDevice] | tuple[GpuDevice, ...]) -> None:
    """What NSCQ would answer for these switches, all in TNVL mode and locked."""
    (directory / "count").write_text(str(len(devices)))
    for index, device in enumerate(devices):
        (directory / f"report{index}.bin").write_bytes(device.report)
        (directory / f"chain{index}.pem").write_bytes(_pem(device.certificates))
        (directory / f"tnvl{index}").write_text(str(LOCKED))


def _real_switches(testdata: Path) -> list[GpuDevice]:
    """nvtrust's PPCIe node: four real LS10 NVSwitch reports for PPCIE_NONCE, with chains."""
    evidence = read_gpu_evidence((testdata / PPCIE_SWITCHES).read_bytes())
    return [GpuDevice(d.report, d.certificates) for d in evidence.devices]


def test_real_ls10_reports_and_chains_come_back_and_verify(
    nscq: Path, switches: Path, testdata: Path
) -> None:
    real = _real_switches(testdata)
    assert len(real) == 4
    _serve(switches, real)
    provider = NscqSwitchProvider(str(nscq))
    assert provider.switches() == [f"SWX-{bytes([0xA0 + i] * 16).hex()}" for i in range(4)]
    devices = provider.get_gpu_evidence(PPCIE_NONCE)
    assert [d.report for d in devices] == [d.report for d in real]
    assert [d.certificates for d in devices] == [d.certificates for d in real]
    assert all((switches / f"nonce{i}.bin").read_bytes() == PPCIE_NONCE for i in range(4))
    result = verify_gpu_evidence(
        [_evidence(d, i) for i, d in enumerate(devices)],
        GpuVerifyRequest(at=datetime(2026, 1, 1, tzinfo=UTC), nonce=PPCIE_NONCE),
    )
    assert result.ok, [c for c in result.checks if c.outcome is Outcome.FAIL]
    passed = {(c.name, c.component) for c in result.checks if c.outcome is Outcome.PASS}
    for number in range(4):
        assert {("spdm-signature", f"NVSwitch {number}"), ("spdm-nonce", f"NVSwitch {number}")} <= (
            passed
        )
    assert ("distinct-devices", "evidence") in passed


def _evidence(device: GpuDevice, number: int) -> Any:
    from cairn_verifier.gpu.evidence import DeviceEvidence

    return DeviceEvidence(device.report, device.certificates, f"switch {number}")


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (None, r"not in Trusted NVLink \(TNVL\) mode \(status -1\)"),
        (0, r"not in Trusted NVLink \(TNVL\) mode \(status 0\)"),
        (1, r"in TNVL mode but not locked \(status 1\)"),
    ],
)
def test_switches_outside_locked_tnvl_mode_are_not_attested(
    nscq: Path, switches: Path, testdata: Path, status: int | None, message: str
) -> None:
    _serve(switches, _real_switches(testdata)[:2])
    if status is None:
        (switches / "tnvl1").unlink()
    else:
        (switches / "tnvl1").write_text(str(status))
    with pytest.raises(ProviderError, match=message):
        NscqSwitchProvider(str(nscq)).get_gpu_evidence(PPCIE_NONCE)
    assert not (switches / "nonce0.bin").exists()  # no report was even asked for


def test_nscq_errors_name_the_call_and_nscqs_code(
    nscq: Path, switches: Path, testdata: Path
) -> None:
    (switches / "fail_nscq_session_create").write_text("-7")
    with pytest.raises(
        ProviderError, match=r"nscq_session_create failed: NSCQ_RC_ERROR_DRV \(-7\)"
    ):
        NscqSwitchProvider(str(nscq))
    (switches / "fail_nscq_session_create").unlink()
    _serve(switches, _real_switches(testdata)[:1])
    (switches / "cbfail_attestation_report").write_text("-8")
    with pytest.raises(ProviderError, match=r"attestation_report' with NSCQ_RC_ERROR_TIMEOUT"):
        NscqSwitchProvider(str(nscq)).get_gpu_evidence(PPCIE_NONCE)
    (switches / "cbfail_attestation_report").unlink()
    (switches / "fail_nscq_session_set_input").write_text("-1")
    with pytest.raises(ProviderError, match="set_input failed: NSCQ_RC_ERROR_NOT_IMPLEMENTED"):
        NscqSwitchProvider(str(nscq)).get_gpu_evidence(PPCIE_NONCE)


def test_sizes_beyond_nscqs_buffers_and_missing_switches_are_refused(
    nscq: Path, switches: Path, testdata: Path
) -> None:
    with pytest.raises(ProviderError, match="NSCQ lists 0 NVSwitches"):
        NscqSwitchProvider(str(nscq)).get_gpu_evidence(PPCIE_NONCE)
    _serve(switches, _real_switches(testdata)[:1])
    (switches / "report_size").write_text(str(0x3000))
    with pytest.raises(ProviderError, match="a report of 12288 bytes"):
        NscqSwitchProvider(str(nscq)).get_gpu_evidence(PPCIE_NONCE)
    (switches / "report_size").write_text("0")
    with pytest.raises(ProviderError, match="a report of 0 bytes"):
        NscqSwitchProvider(str(nscq)).get_gpu_evidence(PPCIE_NONCE)
    with pytest.raises(ProviderError, match="an SPDM nonce is 32 bytes, not 16"):
        NscqSwitchProvider(str(nscq)).get_gpu_evidence(bytes(16))
    (switches / "report_size").unlink()
    (switches / "label").write_bytes(b"SWX/../other")  # a label must not reach another path
    with pytest.raises(ProviderError, match=r"labels a switch b'SWX/\.\./other': not a path"):
        NscqSwitchProvider(str(nscq)).get_gpu_evidence(PPCIE_NONCE)


def test_a_library_without_the_nscq_functions_is_refused() -> None:
    with pytest.raises(ProviderError, match="has no nscq_session_create"):
        NscqSwitchProvider("libc.so.6")
    with pytest.raises(ProviderError, match="cannot load NSCQ"):
        NscqSwitchProvider("/nonexistent/libnvidia-nscq.so.2")


@pytest.mark.parametrize(
    ("gpu", "message"),
    [
        ({"provider": "simulated", "switches": "nscq"}, 'switches = "nscq" goes with provider'),
        ({"provider": "nvml", "switches": "simulated"}, 'switches = "simulated" goes with'),
        ({"switches": "nscq"}, 'switches = "nscq" goes with provider = "nvml"'),
    ],
)
def test_switches_come_with_gpus_of_the_same_kind(gpu: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AgentConfig.model_validate({"gpu": gpu})


def _node(
    tmp_path: Path,
    nvml: Path,
    nscq: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[EvidenceSource, Path, Path]:
    """An agent's evidence source with the configured NVML GPUs and NSCQ switches."""
    gpus = tmp_path / "nvml"
    gpus.mkdir()
    monkeypatch.setenv("FAKE_NVML_DIR", str(gpus))
    (gpus / "count").write_text("2")
    (gpus / "cc_state").write_text("2 1 0")
    config = AgentConfig.model_validate(
        {
            "gpu": {
                "provider": "nvml",
                "nvml_library": str(nvml),
                "switches": "nscq",
                "nscq_library": str(nscq),
            }
        }
    )
    provider = open_gpu(config)
    assert isinstance(provider, NodeGpuProvider) and provider.name == "nvml+nscq"
    tee = SimulatedSnpProvider(tmp_path / "tee")
    roots = tmp_path / "tee-root.pem"
    tee.export_trust_root(roots)
    return EvidenceSource(tee, None, (), "sha256", provider), gpus, roots


def _collect(
    source: EvidenceSource,
    simulated: SimulatedGpuProvider,
    gpus: Path,
    switches: Path,
    tmp_path: Path,
    *,
    count: int,
) -> tuple[dict[str, Any], bytes]:
    """The agent's bundle for a fresh nonce, the fakes answering for its derived GPU nonce with
    two GPUs and ``count`` switches signed by the simulated GPU root."""
    nonce = secrets.token_bytes(32)
    spdm_nonce = gpu_nonce(nonce)
    for index, device in enumerate(simulated.get_gpu_evidence(spdm_nonce)[:2]):
        (gpus / f"report{index}.bin").write_bytes(device.report)
        (gpus / f"chain{index}.pem").write_bytes(_pem(device.certificates))
    _serve(switches, simulated.switch_evidence(spdm_nonce)[:count])
    system = tmp_path / "current-system"
    if not system.is_symlink():
        system.symlink_to("/nix/store/pg2ycqg10v3drn6wdp8qciac5z5s7iqh-nixos-system-cairn-24.11")
    bundle = source.collect(nonce, Inventory(system, None).current())
    assert all((switches / f"nonce{i}.bin").read_bytes() == spdm_nonce for i in range(count))
    document: dict[str, Any] = json.loads(dump_evidence(bundle))
    return document, nonce


def _verify(
    document: dict[str, Any],
    nonce: bytes,
    tmp_path: Path,
    roots: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, dict[str, Any]]:
    bundle = tmp_path / f"bundle-{secrets.token_hex(4)}.json"
    bundle.write_text(json.dumps(document))
    policy = tmp_path / "node-policy.toml"
    policy.write_text(
        "[evidence]\nrequire_tpm = false\n[gpu]\ndevice_counts = { GH100 = 2, LS_10 = 2 }\n"
    )
    argv = ["verify", "evidence", str(bundle), "--nonce", nonce.hex(), "--json", "--offline"]
    argv += ["--policy", str(policy)]
    for root in roots:
        argv += ["--trust-simulated-root", str(root)]
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def _failed(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["name"], c["component"]) for c in doc["checks"] if c["outcome"] == "fail"]


def test_an_agent_bundle_with_gpus_and_switches_verifies_and_binds_them_all(
    nvml: Path,
    nscq: Path,
    switches: Path,
    simulated: SimulatedGpuProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, gpus, tee_root = _node(tmp_path, nvml, nscq, monkeypatch)
    gpu_root = tmp_path / "gpu-root.pem"
    simulated.export_trust_root(gpu_root)
    roots = (tee_root, gpu_root)

    document, nonce = _collect(source, simulated, gpus, switches, tmp_path, count=2)
    assert len(document["gpu"]["devices"]) == 4
    code, doc = _verify(document, nonce, tmp_path, roots, capsys)
    assert code == 0, _failed(doc)
    passed = {(c["name"], c["component"]) for c in doc["checks"] if c["outcome"] == "pass"}
    for device in ("GPU 0", "GPU 1", "NVSwitch 2", "NVSwitch 3"):
        assert {("spdm-signature", device), ("spdm-nonce", device), ("fwid", device)} <= passed
    assert {("gpu-digest", "GPU evidence"), ("device-count", "evidence")} <= passed
    assert [d["kind"] for d in doc["claims"]["gpu"]["devices"]] == ["GPU"] * 2 + ["NVSwitch"] * 2

    removed = json.loads(json.dumps(document))
    del removed["gpu"]["devices"][3]  # a switch taken out of the bundle: the binding breaks
    code, doc = _verify(removed, nonce, tmp_path, roots, capsys)
    assert code == 1 and ("gpu-digest", "GPU evidence") in _failed(doc)

    for count in (1, 3):  # the agent found a switch fewer, or one more, than the node has
        document, nonce = _collect(source, simulated, gpus, switches, tmp_path, count=count)
        code, doc = _verify(document, nonce, tmp_path, roots, capsys)
        assert code == 4, _failed(doc)
        assert _failed(doc) == [("device-count", "evidence"), ("gpu-evidence", "GPU evidence")]
        count_check = next(c for c in doc["checks"] if c["name"] == "device-count")
        assert f"LS_10: {count} (expected 2)" in count_check["summary"]

    code, doc = _verify(document, nonce, tmp_path, roots[:1], capsys)  # GPU root not named
    assert code == 3 and ("device-root-pinned", "NVSwitch 2") in _failed(doc)
