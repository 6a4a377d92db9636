"""GPU evidence in every envelope seen in the wild; the ones without a real file here are built
from real reports and chains as their tools write them (trustee, NRAS, Privasys PGAE)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gpu_vectors import GNAT, NVTRUST_TEST_NONCE

from cairn_verifier.checks import Outcome
from cairn_verifier.errors import ExitCode, MalformedInputError
from cairn_verifier.gpu.verify import GpuVerifyRequest, verify_gpu_evidence
from cairn_verifier.inputs.gpu import read_gpu_evidence
from cairn_verifier.x509.cert import load_certificates


@pytest.fixture(scope="module")
def sample(testdata: Path) -> tuple[bytes, bytes]:
    """The nvtrust Hopper sample: the report (binary) and its chain (PEM text)."""
    gpu = testdata / "gpu" / "nvtrust"
    report = binascii.unhexlify((gpu / "hopperAttestationReport.txt").read_bytes().strip())
    return report, (gpu / "hopperCertChain.txt").read_bytes()


def chain_der(pem: bytes) -> tuple[bytes, ...]:
    return tuple(c.der for c in load_certificates(pem))


def test_bare_reports_in_every_encoding(sample: tuple[bytes, bytes]) -> None:
    report, pem = sample
    certs = chain_der(pem)
    encodings = {
        "raw": report,
        "hex": report.hex().encode(),
        "base64": base64.b64encode(report),
        "pem": b"-----BEGIN REPORT-----\n" + base64.encodebytes(report) + b"-----END REPORT-----\n",
    }
    for name, data in encodings.items():
        evidence = read_gpu_evidence(data, certs)
        assert evidence.formats == (name, "spdm-report"), name
        assert evidence.devices[0].report == report and evidence.devices[0].certificates == certs


def test_a_bare_report_needs_its_chain_to_verify(sample: tuple[bytes, bytes]) -> None:
    (device,) = read_gpu_evidence(sample[0]).devices
    assert device.certificates == ()  # decodable (cairn show gpu), not verifiable
    result = verify_gpu_evidence([device], GpuVerifyRequest(at=datetime.now(UTC)))
    failed = [(c.name, c.category, c.hint) for c in result.checks if c.outcome is Outcome.FAIL]
    assert failed == [
        (
            "device-chain",
            ExitCode.MALFORMED_INPUT,
            "pass the device's certificate chain (PEM, as NVML returns it) with --certs",
        )
    ]


def test_the_sdk_evidence_list(testdata: Path) -> None:
    evidence = read_gpu_evidence((testdata / "gpu/nvtrust/gpu_evidence.json").read_bytes())
    assert evidence.formats == ("nvidia-evidence-list",)
    assert len(evidence.devices) == 8 and evidence.devices[3].label == "entry 3"
    device = evidence.devices[0]
    assert device.architecture == "HOPPER" and len(device.certificates) == 5
    assert device.envelope == {"version": "1.0", "driver_version": "590.12",
                               "vbios_version": "96.00.A5.00.01"}  # fmt: skip


def test_go_nvattest_tools_json(testdata: Path) -> None:
    evidence = read_gpu_evidence((testdata / "gpu" / GNAT / "test_ppcie_data.json").read_bytes())
    assert evidence.formats == ("nvattest-tools-json",)
    labels = [d.label for d in evidence.devices]
    assert labels[:2] == ["gpus[0]", "gpus[1]"] and labels[-1] == "nvswitches[3]"
    assert "not read: " not in evidence.container


def test_an_nras_request(sample: tuple[bytes, bytes]) -> None:
    report, pem = sample
    request = {
        "nonce": NVTRUST_TEST_NONCE,
        "arch": "HOPPER",
        "claims_version": "3.0",
        "evidence_list": [
            {
                "evidence": base64.b64encode(report).decode(),
                "certificate": base64.b64encode(pem).decode(),
            }
        ],
    }
    evidence = read_gpu_evidence(json.dumps(request).encode())
    assert evidence.formats == ("nvidia-nras-request",)
    (device,) = evidence.devices
    assert device.architecture == "HOPPER"
    assert device.declared_nonce == bytes.fromhex(NVTRUST_TEST_NONCE)


def test_trustee_evidence_with_hex_reports(sample: tuple[bytes, bytes]) -> None:
    report, pem = sample
    doc = {
        "device_evidence_list": [
            {"arch": "HOPPER", "uuid": "GPU-1", "evidence": report.hex(),
             "certificate": base64.b64encode(pem).decode()}
        ]
    }  # fmt: skip
    evidence = read_gpu_evidence(json.dumps(doc).encode())
    assert evidence.formats == ("trustee-nvidia-evidence",)
    assert evidence.devices[0].report == report and evidence.devices[0].uuid == "GPU-1"


def _tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + len(value).to_bytes(4, "big") + value


def test_a_privasys_pgae_envelope(sample: tuple[bytes, bytes]) -> None:
    report, pem = sample
    envelope = b"PGAE\x01" + _tlv(1, bytes.fromhex(NVTRUST_TEST_NONCE)) + _tlv(2, report)
    envelope += _tlv(3, pem) + _tlv(5, b"GPU-abc") + _tlv(8, (2).to_bytes(4, "big"))
    envelope += _tlv(0x0B, b"future")
    evidence = read_gpu_evidence(envelope)
    assert evidence.formats == ("privasys-pgae",)
    assert "not read: fields 0x0b" in evidence.container
    (device,) = evidence.devices
    assert (device.uuid, device.envelope) == ("GPU-abc", {"cc_environment": "2"})
    with pytest.raises(MalformedInputError, match="appears twice"):
        read_gpu_evidence(envelope + _tlv(2, report))
    with pytest.raises(MalformedInputError, match="runs past the end"):
        read_gpu_evidence(envelope[:-3])


@pytest.mark.parametrize(
    ("document", "phrase"),
    [
        (b"[]", "not an evidence list"),
        (b'{"claims": {}, "detached_eat": []}', "an NVIDIA verifier's result"),
        (b'{"format": "cairn-evidence"}', "Cairn evidence bundle"),
        (b'{"evidence_list": [{"evidence": "11e0"}]}', "has no 'certificate' member"),
        (b'[{"evidence": "AAAA", "certificate": "x"}]', "an NVIDIA attestation report in no"),
        (b'{"a": 1}', "members a"),
        (b"aGVsbG8h", "no NVIDIA attestation report"),
        (b"hello", "impossible length"),
    ],
)
def test_what_is_not_gpu_evidence_is_named(document: bytes, phrase: str) -> None:
    with pytest.raises(MalformedInputError) as info:
        read_gpu_evidence(document)
    assert phrase in info.value.message


def test_certs_beside_an_envelope_are_refused(testdata: Path, sample: tuple[bytes, bytes]) -> None:
    data = (testdata / "gpu/nvtrust/gpu_evidence.json").read_bytes()
    with pytest.raises(MalformedInputError, match="--certs is for a bare attestation report"):
        read_gpu_evidence(data, chain_der(sample[1]))
