"""The simulated GPU: real SPDM 1.1 GET_MEASUREMENTS transcripts by structure, an NVIDIA-shaped
chain that says SIMULATED everywhere, persistent keys, and `cairn verify gpu` trusting it only
through --trust-simulated-root."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from cairn_agent.config import AgentConfig
from cairn_agent.gpu.base import ProviderError
from cairn_agent.gpu.simulated import (
    FWID,
    MEASUREMENT_BLOCKS,
    SWITCH_BIOS_VERSION,
    SWITCH_FWID,
    SimulatedGpuProvider,
)
from cairn_agent.startup import open_gpu
from cairn_verifier.checks import Outcome
from cairn_verifier.cli.main import main
from cairn_verifier.gpu.evidence import DeviceEvidence
from cairn_verifier.gpu.families import DeviceKind
from cairn_verifier.gpu.report import decode_report
from cairn_verifier.gpu.spdm import parse_spdm_report
from cairn_verifier.gpu.verify import GpuVerifyRequest, verify_gpu_evidence


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gpu-state")


def test_reports_parse_by_structure_with_nvidias_opaque_fields(state: Path) -> None:
    nonce = secrets.token_bytes(32)
    (device,) = SimulatedGpuProvider(state).get_gpu_evidence(nonce)
    spdm = parse_spdm_report(device.report)
    assert spdm.nonce == nonce and not spdm.trailing
    assert len(spdm.blocks) == MEASUREMENT_BLOCKS and len(spdm.signature) == 96
    assert spdm.signature_offset == len(device.report) - 96
    report = decode_report(spdm, DeviceKind.GPU)
    assert (report.driver_version, report.firmware_version) == ("550.90.07", "96.00.9F.00.01")
    assert report.fwid == FWID


def test_every_certificate_says_simulated_and_the_keys_persist(state: Path) -> None:
    first = SimulatedGpuProvider(state, count=2)
    chain = [x509.load_der_x509_certificate(der) for der in first.device_chain(1)]
    assert [c.subject.rfc4514_string().count("SIMULATED") for c in chain] == [1, 1, 1, 1, 2]
    again = SimulatedGpuProvider(state, count=2)
    assert again.device_chain(1) == first.device_chain(1)
    assert first.device_chain(0)[0] != first.device_chain(1)[0]  # one leaf per GPU
    with pytest.raises(ProviderError, match=r"1\.\.8 GPUs"):
        SimulatedGpuProvider(state, count=9)


def _files(tmp_path: Path, state: Path, nonce: bytes) -> tuple[Path, Path, Path]:
    provider = SimulatedGpuProvider(state)
    (device,) = provider.get_gpu_evidence(nonce)
    report, certs, root = tmp_path / "report.bin", tmp_path / "chain.pem", tmp_path / "root.pem"
    report.write_bytes(device.report)
    certs.write_bytes(
        b"".join(
            x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM)
            for d in device.certificates
        )
    )
    provider.export_trust_root(root)
    return report, certs, root


def test_cairn_verify_gpu_trusts_it_only_when_its_root_is_named(
    tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nonce = secrets.token_bytes(32)
    report, certs, root = _files(tmp_path, state, nonce)
    base = ["verify", "gpu", str(report), "--certs", str(certs), "--nonce", nonce.hex()]
    assert main([*base, "--offline"]) == 3
    assert "device-root-pinned" in capsys.readouterr().out
    assert main([*base, "--offline", "--trust-simulated-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out and "nothing in it is hardware-backed" in out
    assert (
        main([*base[:-1], secrets.token_hex(32), "--offline", "--trust-simulated-root", str(root)])
        == 1
    )
    assert "spdm-nonce" in capsys.readouterr().out


def test_configured_simulated_switches_follow_the_gpus_under_the_same_root(
    tmp_path: Path,
) -> None:
    """gpu.switches = "simulated": LS10 switches (their own ICA, BROM and FMC leaf under the
    simulated GH100 Identity, as NVIDIA's LS10 chains are) after the GPUs, with a switch's opaque
    fields; `verify_gpu_evidence` reads them as NVSwitches and checks their FWID."""
    config = AgentConfig.model_validate(
        {
            "state": {"directory": str(tmp_path)},
            "gpu": {"provider": "simulated", "switches": "simulated", "simulated_switch_count": 2},
        }
    )
    provider = open_gpu(config)
    assert isinstance(provider, SimulatedGpuProvider) and "NVSwitches (2)" in provider.describe()
    nonce = secrets.token_bytes(32)
    devices = provider.get_gpu_evidence(nonce)
    assert len(devices) == 3
    switch = decode_report(parse_spdm_report(devices[1].report), DeviceKind.SWITCH)
    assert switch.firmware_version == SWITCH_BIOS_VERSION and switch.fwid == SWITCH_FWID
    assert len(switch.pdis) == 1
    names = [x509.load_der_x509_certificate(der).subject for der in devices[2].certificates]
    assert [n.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for n in names] == [
        "LS_10 A01 FSP FMC LF",
        "LS_10 A01 FSP BROM",
        "NVIDIA LS_10 Provisioner ICA 1",
        "NVIDIA GH100 Identity",
        "Cairn SIMULATED NVIDIA Device Identity CA",
    ]
    result = verify_gpu_evidence(
        [DeviceEvidence(d.report, d.certificates, f"device {i}") for i, d in enumerate(devices)],
        GpuVerifyRequest(at=datetime.now(UTC), nonce=nonce, trusted_root=provider.trust_roots()[0]),
    )
    assert result.ok, [c for c in result.checks if c.outcome is Outcome.FAIL]
    passed = {(c.name, c.component) for c in result.checks if c.outcome is Outcome.PASS}
    assert {("fwid", "NVSwitch 1"), ("fwid", "NVSwitch 2"), ("distinct-devices", "evidence")} <= (
        passed
    )
    with pytest.raises(ProviderError, match=r"0\.\.8 NVSwitches, not 9"):
        SimulatedGpuProvider(tmp_path, switches=9)
