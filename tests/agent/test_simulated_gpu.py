"""The simulated GPU: real SPDM 1.1 GET_MEASUREMENTS transcripts by structure, an NVIDIA-shaped
chain that says SIMULATED everywhere, persistent keys, and `cairn verify gpu` trusting it only
through --trust-simulated-root."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cairn_agent.gpu.base import ProviderError
from cairn_agent.gpu.simulated import FWID, MEASUREMENT_BLOCKS, SimulatedGpuProvider
from cairn_verifier.cli.main import main
from cairn_verifier.gpu.families import DeviceKind
from cairn_verifier.gpu.report import decode_report
from cairn_verifier.gpu.spdm import parse_spdm_report


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
