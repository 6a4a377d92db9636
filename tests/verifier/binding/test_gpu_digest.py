"""GPU evidence binding v1: the committed vectors (docs/spec/vectors/gpu-evidence-v1.json), the
nonce derivation, and what the digest does and does not accept."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from cairn_verifier.binding.gpu_digest import (
    DIGEST_DOMAIN,
    MAX_DEVICES,
    NONCE_DOMAIN,
    GpuDeviceBytes,
    gpu_digest,
    gpu_evidence_message,
    gpu_nonce,
)
from cairn_verifier.errors import MalformedInputError
from cairn_verifier.evidence.models import GpuEvidence

VECTORS = Path(__file__).resolve().parents[3] / "docs" / "spec" / "vectors"


def _load() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / "gpu-evidence-v1.json").read_text())
    return document


def _devices(vector: dict[str, Any]) -> list[GpuDeviceBytes]:
    return [
        GpuDeviceBytes(
            base64.b64decode(d["report"]),
            tuple(base64.b64decode(c) for c in d["certificates"]),
        )
        for d in vector["devices"]
    ]


def test_domains_are_the_documented_bytes() -> None:
    document = _load()
    assert NONCE_DOMAIN == b"cairn/gpu-nonce/v1" == bytes.fromhex(document["nonce_domain"])
    assert DIGEST_DOMAIN == b"cairn/gpu-evidence/v1\x00" == bytes.fromhex(document["digest_domain"])


@pytest.mark.parametrize("vector", _load()["nonces"], ids=lambda v: v["nonce"][:8])
def test_nonce_vectors(vector: dict[str, str]) -> None:
    assert gpu_nonce(bytes.fromhex(vector["nonce"])).hex() == vector["gpu_nonce"]


@pytest.mark.parametrize("vector", _load()["digests"], ids=lambda v: v["name"])
def test_digest_vectors(vector: dict[str, Any]) -> None:
    devices = _devices(vector)
    message = gpu_evidence_message(devices)
    if "message" in vector:
        assert message.hex() == vector["message"]
    assert gpu_digest(devices).hex() == vector["gpu_digest"]
    assert hashlib.sha256(message).hexdigest() == vector["gpu_digest"]


def test_the_vectors_all_differ_and_include_a_real_hopper_report() -> None:
    digests = [v["gpu_digest"] for v in _load()["digests"]]
    assert len(set(digests)) == len(digests)
    hopper = next(v for v in _load()["digests"] if v["name"] == "nvtrust-hopper")
    report = Path(__file__).resolve().parents[2] / "vectors/gpu/nvtrust/hopperAttestationReport.txt"
    assert _devices(hopper)[0].report == bytes.fromhex(report.read_text().strip())
    in_a_bundle = GpuEvidence.model_validate(
        {"devices": hopper["devices"]}, context={"cairn-from-json": True}
    )
    assert in_a_bundle.digest().hex() == hopper["gpu_digest"]


def test_message_layout_is_length_prefixed_big_endian() -> None:
    message = gpu_evidence_message([GpuDeviceBytes(b"\x11\x22", (b"\x30", b"\x31\x32"))])
    assert message == (
        DIGEST_DOMAIN
        + bytes.fromhex("00000001")
        + bytes.fromhex("00000002 1122 00000002 00000001 30 00000002 3132".replace(" ", ""))
    )


@pytest.mark.parametrize("count", [0, MAX_DEVICES + 1])
def test_device_counts_outside_1_to_64_are_refused(count: int) -> None:
    with pytest.raises(MalformedInputError, match="devices"):
        gpu_digest([GpuDeviceBytes(b"r", (b"c",))] * count)


@pytest.mark.parametrize("size", [0, 31, 33])
def test_the_verifier_nonce_must_be_32_bytes(size: int) -> None:
    with pytest.raises(MalformedInputError, match="32"):
        gpu_nonce(bytes(size))
