"""The NVML GPU provider against a fake libnvidia-ml (tests/fakes/fake_nvml.c, compiled here with
NVML's real structure layouts; no GPU exists on this machine): the nonce reaches NVML, reports and
chains come back as the devices gave them, CC state is enforced, errors are explained, the
ready state is set only when asked; and an agent bundle with NVML GPUs verifies end to end."""

from __future__ import annotations

import secrets
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cairn_agent.config import AgentConfig
from cairn_agent.evidence import EvidenceSource
from cairn_agent.gpu.base import ProviderError
from cairn_agent.gpu.nvml import NvmlGpuProvider
from cairn_agent.gpu.simulated import SimulatedGpuProvider
from cairn_agent.inventory import Inventory
from cairn_agent.startup import open_gpu, set_gpus_ready
from cairn_agent.tee.simulated_snp import SimulatedSnpProvider
from cairn_verifier.api import gpu_nonce
from cairn_verifier.checks import Outcome
from cairn_verifier.evidence.policy import EvidencePolicy
from cairn_verifier.evidence.request import EvidenceVerifyRequest
from cairn_verifier.evidence.verify import verify_evidence
from cairn_verifier.policy_document import CairnPolicy

FAKE_SOURCE = Path(__file__).resolve().parents[1] / "fakes" / "fake_nvml.c"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fake-nvml") / "libnvidia-ml.so.1"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", str(out), str(FAKE_SOURCE)],
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> SimulatedGpuProvider:
    return SimulatedGpuProvider(tmp_path_factory.mktemp("gpu-state"), count=2)


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fake's directory: two GPUs in CC mode, no reports yet."""
    monkeypatch.setenv("FAKE_NVML_DIR", str(tmp_path))
    (tmp_path / "count").write_text("2")
    (tmp_path / "cc_state").write_text("2 1 0")
    return tmp_path


def _pem(chain: tuple[bytes, ...]) -> bytes:
    return b"".join(
        x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        for der in chain
    )


def _install(node: Path, simulated: SimulatedGpuProvider, spdm_nonce: bytes) -> None:
    """What two GPUs would answer for ``spdm_nonce``, made by the simulated GPU's keys."""
    for index, device in enumerate(simulated.get_gpu_evidence(spdm_nonce)):
        (node / f"report{index}.bin").write_bytes(device.report)
        (node / f"chain{index}.pem").write_bytes(_pem(device.certificates))


def test_reports_and_chains_come_back_and_the_nonce_reaches_every_gpu(
    library: Path, node: Path, simulated: SimulatedGpuProvider
) -> None:
    nonce = secrets.token_bytes(32)
    _install(node, simulated, nonce)
    devices = NvmlGpuProvider(str(library)).get_gpu_evidence(nonce)
    assert [d.report for d in devices] == [(node / f"report{i}.bin").read_bytes() for i in (0, 1)]
    assert [d.certificates for d in devices] == [simulated.device_chain(i) for i in (0, 1)]
    assert (node / "nonce0.bin").read_bytes() == nonce == (node / "nonce1.bin").read_bytes()


@pytest.mark.parametrize(
    ("state", "message"),
    [("2 0 0", "confidential computing off"), ("2 1 1", "developer-tools mode on")],
)
def test_gpus_outside_cc_mode_are_not_attested(
    library: Path, node: Path, simulated: SimulatedGpuProvider, state: str, message: str
) -> None:
    _install(node, simulated, bytes(32))
    (node / "cc_state").write_text(state)
    provider = NvmlGpuProvider(str(library))
    with pytest.raises(ProviderError, match=message):
        provider.get_gpu_evidence(bytes(32))
    assert not (node / "nonce0.bin").exists()  # no report was even asked for


def test_cc_state_is_reported_as_nvml_says(library: Path, node: Path) -> None:
    (node / "cc_state").write_text("2 1 0")
    assert NvmlGpuProvider(str(library)).cc_state() == {
        "environment": "production",
        "cc_feature": True,
        "devtools_mode": False,
    }


def test_nvml_errors_name_the_function_and_nvmls_reason(library: Path, node: Path) -> None:
    (node / "fail_nvmlInit_v2").write_text("9")
    with pytest.raises(ProviderError, match=r"nvmlInit_v2 failed: Driver Not Loaded \(9\)"):
        NvmlGpuProvider(str(library))


def test_a_missing_report_is_an_error_not_an_empty_device(library: Path, node: Path) -> None:
    with pytest.raises(ProviderError, match="GetConfComputeGpuAttestationReport failed: Not Found"):
        NvmlGpuProvider(str(library)).get_gpu_evidence(bytes(32))


def test_a_library_without_the_cc_functions_is_refused() -> None:
    with pytest.raises(ProviderError, match="has no nvmlInit_v2"):
        NvmlGpuProvider("libc.so.6")
    with pytest.raises(ProviderError, match="cannot load NVML"):
        NvmlGpuProvider("/nonexistent/libnvidia-ml.so.1")


def test_the_ready_state_is_set_only_when_configured(
    library: Path, node: Path, tmp_path: Path
) -> None:
    config = AgentConfig.model_validate(
        {"gpu": {"provider": "nvml", "nvml_library": str(library), "set_ready_state": False}}
    )
    gpu = open_gpu(config)
    assert isinstance(gpu, NvmlGpuProvider) and not gpu.ready_state()
    tee = SimulatedSnpProvider(tmp_path / "tee")
    source = EvidenceSource(tee, None, (), "sha256", gpu)
    set_gpus_ready(source, config)
    assert not gpu.ready_state()
    set_gpus_ready(
        source,
        config.model_copy(update={"gpu": config.gpu.model_copy(update={"set_ready_state": True})}),
    )
    assert gpu.ready_state() and (node / "ready").read_text() == "1"


def test_an_agent_bundle_with_nvml_gpus_verifies_and_binds_them(
    library: Path, node: Path, simulated: SimulatedGpuProvider, tmp_path: Path
) -> None:
    nonce = secrets.token_bytes(32)
    _install(node, simulated, gpu_nonce(nonce))
    tee = SimulatedSnpProvider(tmp_path / "tee")
    source = EvidenceSource(tee, None, (), "sha256", NvmlGpuProvider(str(library)))
    system = tmp_path / "current-system"
    system.symlink_to("/nix/store/pg2ycqg10v3drn6wdp8qciac5z5s7iqh-nixos-system-cairn-24.11")
    bundle = source.collect(nonce, Inventory(system, None).current())
    assert (node / "nonce0.bin").read_bytes() == gpu_nonce(nonce)
    assert bundle.gpu is not None and bundle.claims.gpu_digest == bundle.gpu.digest()
    request = EvidenceVerifyRequest(
        nonce=nonce,
        at=datetime.now(UTC),
        policy=CairnPolicy(evidence=EvidencePolicy(require_tpm=False)),
        simulated_roots=(*tee.trust_roots(), *simulated.trust_roots()),
    )
    result = verify_evidence(bundle, request)
    assert result.ok, [c for c in result.checks if c.outcome is Outcome.FAIL]
    passed = {(c.name, c.component) for c in result.checks if c.outcome is Outcome.PASS}
    assert {("spdm-nonce", "GPU 0"), ("spdm-nonce", "GPU 1"), ("gpu-digest", "GPU evidence")} <= (
        passed
    )

    later = secrets.token_bytes(32)  # NVML answers the old reports again: a replay
    replayed = source.collect(later, Inventory(system, None).current())
    result = verify_evidence(
        replayed, EvidenceVerifyRequest(**{**request.__dict__, "nonce": later})
    )
    failed = [(c.name, c.component) for c in result.checks if c.outcome is Outcome.FAIL]
    assert failed[0] == ("spdm-nonce", "GPU 0")
