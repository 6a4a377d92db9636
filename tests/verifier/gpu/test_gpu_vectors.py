"""Every real GPU and NVSwitch vector through ``cairn verify gpu``: the positives verify, the
negatives fail with the check and exit code PROVENANCE.md names."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from gpu_vectors import BY_NAME, GNAT, NVTRUST_TEST_NONCE, SOURCES, GpuSource

from cairn_verifier.cli.main import main
from cairn_verifier.inputs.gpu import read_gpu_evidence
from cairn_verifier.x509.cert import load_certificates


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def failures(doc: dict[str, Any]) -> list[tuple[str, int]]:
    return [(c["name"], c["exit_code"]) for c in doc["checks"] if c["outcome"] == "fail"]


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_each_source_reaches_its_verdict(
    source: GpuSource, testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = run(source.argv(testdata / "gpu"), capsys)
    if source.expected == "verified":
        assert (code, failures(doc)) == (0, [])
        devices = doc["claims"]["devices"]
        assert [d["family"] for d in devices] == list(source.families)
        assert {d["nonce"] for d in devices} == {source.nonce}
        names = {c["name"] for c in doc["checks"] if c["outcome"] == "pass"}
        assert {"spdm-signature", "spdm-nonce", "device-chain", "device-root-pinned"} <= names
    elif source.expected == "bad-signature":
        assert code == 2
        assert failures(doc) == [("spdm-signature", 2)]
    else:
        assert code == 1
        assert failures(doc) == [("distinct-devices", 1)]
        assert "NVSwitch 3 is NVSwitch 0 again" in doc["checks"][-1]["summary"]


def _device_blobs(gpu: Path, source: GpuSource) -> list[bytes]:
    certs = None
    if source.certs is not None:
        certs = [c.der for c in load_certificates((gpu / source.certs).read_bytes())]
    evidence = read_gpu_evidence((gpu / source.evidence).read_bytes(), certs)
    return [device.report for device in evidence.devices]


def test_the_distinct_positive_reports_are_those_provenance_counts(testdata: Path) -> None:
    """PROVENANCE.md: 50 distinct blobs, 48 verify; the trustee CoCo and Privasys captures are
    kept out of this folder, so 46 distinct verified reports and the 2 negatives are here."""
    gpu = testdata / "gpu"
    verified: set[str] = set()
    negative: set[str] = set()
    for source in SOURCES:
        digests = {hashlib.sha256(blob).hexdigest() for blob in _device_blobs(gpu, source)}
        if source.name == "gnat-switch-raw-as-paired":  # verifies with its own chain (below)
            verified |= digests
        elif source.expected == "bad-signature":
            negative |= digests
        else:
            verified |= digests
    assert (len(verified), len(negative)) == (46, 2)


def test_the_mispaired_switch_report_verifies_with_its_own_chain(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """go-nvattest-tools pairs its raw switch report with another switch's chain; the chain of
    test_ppcie_data.json nvswitches[1] is the report's own (PROVENANCE.md)."""
    gpu = testdata / "gpu"
    ppcie = read_gpu_evidence((gpu / GNAT / "test_ppcie_data.json").read_bytes())
    chain = tmp_path / "switch1.pem"
    chain.write_bytes(
        b"".join(
            x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
            for der in ppcie.devices[9].certificates
        )
    )
    assert ppcie.devices[9].label == "nvswitches[1]"
    report = gpu / GNAT / "test_raw_switch_attestation_report.dat"
    argv = ["verify", "gpu", str(report), "--certs", str(chain), "--offline", "--no-cache"]
    code, doc = run(
        [*argv, "--nonce", BY_NAME["gnat-switch-raw-as-paired"].nonce, "--json"], capsys
    )
    assert (code, failures(doc)) == (0, [])


CHAIN_NEGATIVES = (
    ("trustee/hopper_cert_chain_case2.txt", "device-chain", "0 certificate(s) below the root"),
    ("trustee/hopper_cert_chain_case3.txt", "device-chain", "3 certificate(s) below the root"),
    ("trustee/hopper_cert_chain_case4.txt", "device-chain", "3 certificate(s) below the root"),
    ("trustee/hopper_signing_cert.pem", "device-chain", "1 certificate(s) below the root"),
    ("go-nvtrust/invalidCertChain.txt", "device-chain", "3 certificate(s) below the root"),
)


@pytest.mark.parametrize(("chain", "check", "phrase"), CHAIN_NEGATIVES, ids=str)
def test_broken_device_chains_are_refused(
    chain: str, check: str, phrase: str, testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gpu = testdata / "gpu"
    argv = ["verify", "gpu", str(gpu / "nvtrust/hopperAttestationReport.txt"), "--certs"]
    argv += [str(gpu / chain), "--nonce", NVTRUST_TEST_NONCE, "--offline", "--no-cache", "--json"]
    code, doc = run(argv, capsys)
    assert (code, failures(doc)) == (3, [(check, 3)])
    assert phrase in doc["checks"][-1]["summary"]


def test_a_wrong_nonce_is_a_content_mismatch(
    testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = BY_NAME["nvtrust-hopper-sample"]
    argv = source.argv(testdata / "gpu")
    argv[argv.index("--nonce") + 1] = "00" * 32
    code, doc = run(argv, capsys)
    assert (code, failures(doc)) == (1, [("spdm-nonce", 1)])
    check = next(c for c in doc["checks"] if c["name"] == "spdm-nonce")
    assert check["actual"] == NVTRUST_TEST_NONCE


def test_without_a_nonce_freshness_is_skipped_and_said(
    testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = BY_NAME["nvtrust-hopper-sample"]
    argv = source.argv(testdata / "gpu")
    del argv[argv.index("--nonce") : argv.index("--nonce") + 2]
    code, doc = run(argv, capsys)
    assert code == 0
    assert [c["outcome"] for c in doc["checks"] if c["name"] == "spdm-nonce"] == ["skipped"]
    assert any("freshness is not proven" in w for w in doc["warnings"])
