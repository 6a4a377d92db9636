"""GPU evidence verification against its floor, one ECDSA P-384 verification, in the same run.

One device (the nvtrust Hopper sample: its chain already parsed, no collateral, the default
policy) and the whole 12-device PPCIe node (8 GPUs and 4 NVSwitches), each against the device
signatures it checks, verified alone. Run with ``nox -s bench``; written up in
docs/performance.md.
"""

from __future__ import annotations

import binascii
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from cairn_verifier.ecdsa import raw_to_der
from cairn_verifier.errors import ExitCode
from cairn_verifier.gpu.evidence import DeviceEvidence
from cairn_verifier.gpu.spdm import parse_spdm_report
from cairn_verifier.gpu.verify import GpuVerifyRequest, verify_gpu_evidence
from cairn_verifier.inputs.gpu import read_gpu_evidence
from cairn_verifier.x509.cert import load_certificates

NONCE = bytes.fromhex("931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb")
AT = datetime(2026, 1, 1, tzinfo=UTC)


def _sample(testdata: Path) -> DeviceEvidence:
    gpu = testdata / "gpu" / "nvtrust"
    report = binascii.unhexlify((gpu / "hopperAttestationReport.txt").read_bytes().strip())
    chain = tuple(c.der for c in load_certificates((gpu / "hopperCertChain.txt").read_bytes()))
    return DeviceEvidence(report, chain, "sample")


def test_floor_ecdsa_p384_verify(benchmark, testdata: Path) -> None:
    device = _sample(testdata)
    key = load_certificates((testdata / "gpu/nvtrust/hopperCertChain.txt").read_bytes())[
        0
    ].public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    signature = raw_to_der(device.report[4021:4117])
    benchmark.group = "gpu-one-device"
    benchmark(key.verify, signature, device.report[:4021], ec.ECDSA(hashes.SHA384()))


def test_verify_one_gpu_warm(benchmark, testdata: Path) -> None:
    device = _sample(testdata)
    request = GpuVerifyRequest(at=AT, nonce=NONCE)
    assert verify_gpu_evidence([device], request).exit_code is ExitCode.OK  # warm-up
    benchmark.group = "gpu-one-device"
    result = benchmark(verify_gpu_evidence, [device], request)
    assert result.exit_code is ExitCode.OK


PPCIE = "gpu/go-nvattest-tools/testing/testdata/test_ppcie_data.json"


def test_floor_ppcie_node_signatures(benchmark, testdata: Path) -> None:
    """The node's floor: each device's report signature, one ECDSA P-384 verify per device."""
    checks = []
    for device in read_gpu_evidence((testdata / PPCIE).read_bytes()).devices:
        spdm = parse_spdm_report(device.report)
        key = load_certificates(device.certificates[0])[0].public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)
        checks.append((key, raw_to_der(spdm.signature), spdm.signed_bytes))
    assert len(checks) == 12

    def verify_all() -> None:
        for key, signature, signed in checks:
            key.verify(signature, signed, ec.ECDSA(hashes.SHA384()))

    benchmark.group = "gpu-ppcie-node"
    benchmark(verify_all)


@pytest.mark.parametrize("devices", [12])
def test_verify_ppcie_node_warm(benchmark, testdata: Path, devices: int) -> None:
    evidence = read_gpu_evidence((testdata / PPCIE).read_bytes()).devices
    assert len(evidence) == devices
    request = GpuVerifyRequest(at=AT, nonce=bytes.fromhex("1234567890" * 6 + "1234"))
    assert verify_gpu_evidence(evidence, request).exit_code is ExitCode.OK  # warm-up
    benchmark.group = "gpu-ppcie-node"
    result = benchmark(verify_gpu_evidence, evidence, request)
    assert result.exit_code is ExitCode.OK
