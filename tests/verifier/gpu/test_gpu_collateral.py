"""Revocation and the offline bundle: go-nvattest-tools' seven stored OCSP responses about the
nvtrust sample's device chain and its two RIM chains, exported into a bundle and used offline."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from gpu_vectors import GNAT, NVTRUST_TEST_NONCE

from cairn_verifier.cli.main import main
from cairn_verifier.collateral.bundle import load_bundle
from cairn_verifier.errors import ChainError, ParseError
from cairn_verifier.gpu.chain import DEVICE_RULES, split_root
from cairn_verifier.gpu.ocsp import cert_id_key, check_response
from cairn_verifier.gpu.rim import load_rim
from cairn_verifier.gpu.roots import NvidiaRoot, pinned_root
from cairn_verifier.x509.cert import load_certificates

OCSP = f"{GNAT}/ocsp"
RIMS = f"{GNAT}/rim"
FETCHED = "2025-10-24T11:30:00Z"
AT = "2025-10-24T12:00:00Z"


def _ocsp(testdata: Path, name: str) -> bytes:
    path = testdata / "gpu" / OCSP / f"test_gpu_{name}_base64encoded_ocsp_response.dat"
    return base64.b64decode(path.read_bytes())


@pytest.fixture(scope="module")
def device_chain(testdata: Path) -> list[Any]:
    pem = (testdata / "gpu" / GNAT / "test_gpu_attestation_certificate_chain.dat").read_bytes()
    root = pinned_root(NvidiaRoot.DEVICE_IDENTITY)
    return [*split_root(load_certificates(pem), root, DEVICE_RULES), root]


@pytest.fixture(scope="module")
def rim_chains(testdata: Path) -> dict[str, list[Any]]:
    return {
        name: list(load_rim((testdata / "gpu" / RIMS / file).read_bytes()).certificates)
        for name, file in (
            ("driver", "NV_GPU_DRIVER_GH100_550.90.07.xml"),
            ("vbios", "NV_GPU_VBIOS_1010_0200_882_96009F0001.xml"),
        )
    }


def test_all_seven_responses_verify_as_of_their_own_time(
    testdata: Path, device_chain: list[Any], rim_chains: dict[str, list[Any]]
) -> None:
    brom, ica, identity, root = device_chain[1:]
    driver, vbios = rim_chains["driver"], rim_chains["vbios"]
    cases = {
        "certificate_l4": (brom, ica),
        "certificate_l3": (ica, identity),
        "certificate_l2": (identity, root),
        "driver_rim_l4": (driver[0], driver[1]),
        "driver_rim_l3": (driver[1], driver[2]),
        "rim_l2": (driver[2], driver[3]),
        "vbios_l4": (vbios[0], vbios[1]),
    }
    for name, (cert, issuer) in cases.items():
        status = check_response(_ocsp(testdata, name), cert, issuer)
        assert status.status == "good", name
        assert status.responder.startswith("NVIDIA OCSP Responder"), name


def test_a_response_about_another_certificate_is_refused(
    testdata: Path, device_chain: list[Any]
) -> None:
    _brom, ica, identity = device_chain[1:4]
    with pytest.raises(ChainError, match="is not about 'NVIDIA GH100 Provisioner ICA 1'"):
        check_response(_ocsp(testdata, "certificate_l4"), ica, identity)


def test_a_tampered_response_is_refused(testdata: Path, device_chain: list[Any]) -> None:
    brom, ica = device_chain[1:3]
    data = bytearray(_ocsp(testdata, "certificate_l4"))
    data[-10] ^= 0x01  # inside the signature value
    with pytest.raises((ChainError, ParseError)):
        check_response(bytes(data), brom, ica)


def test_responses_are_filed_by_their_sha384_cert_id(
    testdata: Path, device_chain: list[Any]
) -> None:
    brom, ica = device_chain[1:3]
    assert cert_id_key(brom, ica).endswith("/41431d480fe5e87274")


def _export(testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    gpu = testdata / "gpu"
    bundle = tmp_path / "bundle.json"
    argv = [
        "collateral",
        "export",
        "--gpu",
        str(gpu / GNAT / "test_raw_gpu_attestation_report.dat"),
    ]
    argv += ["--gpu-certs", str(gpu / GNAT / "test_gpu_attestation_certificate_chain.dat")]
    argv += ["--rim", str(gpu / RIMS / "NV_GPU_DRIVER_GH100_550.90.07.xml")]
    argv += ["--rim", str(gpu / RIMS / "NV_GPU_VBIOS_1010_0200_882_96009F0001.xml")]
    argv += ["--rim-fetched-at", FETCHED]
    for response in sorted((gpu / OCSP).glob("*.dat")):
        argv += ["--ocsp", str(response)]
    argv += ["-o", str(bundle), "--offline", "--no-cache", "--json"]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["not_bundled"] == []
    return bundle


def _verify(testdata: Path, *extra: str) -> list[str]:
    gpu = testdata / "gpu"
    argv = ["verify", "gpu", str(gpu / GNAT / "test_raw_gpu_attestation_report.dat")]
    argv += ["--certs", str(gpu / GNAT / "test_gpu_attestation_certificate_chain.dat")]
    return [*argv, "--nonce", NVTRUST_TEST_NONCE, "--offline", "--no-cache", "--json", *extra]


def _policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text("[gpu]\n" + text)
    return str(path)


def test_the_offline_bundle_gives_the_golden_match_and_revocation(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _export(testdata, tmp_path, capsys)
    entries = load_bundle(bundle).entries
    assert sorted(e.namespace for e in entries) == ["nvidia-ocsp"] * 7 + ["nvidia-rim"] * 2
    rim_keys = sorted(e.key for e in entries if e.namespace == "nvidia-rim")
    assert rim_keys[0].startswith("NV_GPU_DRIVER_GH100_550.90.07/sha384:509f5c51c4d641b6")
    assert {e.fetched_at.isoformat() for e in entries if e.namespace == "nvidia-rim"} == {
        "2025-10-24T11:30:00+00:00"
    }
    policy = _policy(
        tmp_path,
        "require_rim_match = true\nrequire_revocation = true\nrequire_fwid = true\n"
        "ocsp_max_age_hours = 1600\n",
    )
    argv = _verify(testdata, "--collateral", str(bundle), "--policy", policy, "--at", AT)
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    outcomes = {(c["name"], c["component"]): c["outcome"] for c in doc["checks"]}
    assert set(outcomes.values()) == {"pass"}
    assert outcomes[("device-revocation", "GPU 0")] == "pass"
    assert outcomes[("rim-revocation", "GPU 0 driver RIM")] == "pass"
    measurements = next(c for c in doc["checks"] if c["name"] == "measurements")
    assert measurements["summary"].startswith("32 of 32 active measurements match")


def test_stale_responses_skip_revocation_unless_the_policy_requires_it(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _export(testdata, tmp_path, capsys)
    argv = _verify(testdata, "--collateral", str(bundle), "--at", AT)
    assert main(argv) == 0  # the device answers (2025-08-21) are older than a week at AT
    doc = json.loads(capsys.readouterr().out)
    device = next(c for c in doc["checks"] if c["name"] == "device-revocation")
    assert device["outcome"] == "skipped"
    assert "older than ocsp_max_age_hours = 168" in device["summary"]
    policy = _policy(tmp_path, "require_revocation = true\n")
    assert main([*argv, "--policy", policy]) == 5
    doc = json.loads(capsys.readouterr().out)
    failed = [(c["name"], c["exit_code"]) for c in doc["checks"] if c["outcome"] == "fail"]
    assert failed == [("device-revocation", 5)]


def test_offline_without_collateral_fails_only_what_the_policy_requires(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_verify(testdata)) == 0
    capsys.readouterr()
    policy = _policy(tmp_path, "require_rim_match = true\n")
    assert main([*_verify(testdata), "--policy", policy]) == 5
    doc = json.loads(capsys.readouterr().out)
    failed = [(c["name"], c["component"]) for c in doc["checks"] if c["outcome"] == "fail"]
    assert failed == [
        ("rim-available", "GPU 0 driver RIM"),
        ("rim-available", "GPU 0 VBIOS RIM"),
        ("measurements", "GPU 0"),
    ]


def test_a_bundle_rim_tampered_in_transit_is_malformed_input(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _export(testdata, tmp_path, capsys)
    doc = json.loads(bundle.read_text())
    for entry in doc["entries"]:
        if entry["key"].startswith("NV_GPU_DRIVER"):
            entry["data_b64"] = base64.b64encode(b"<not-a-rim/>").decode()
    bundle.write_text(json.dumps(doc))
    assert main(_verify(testdata, "--collateral", str(bundle), "--at", AT)) == 10
    doc = json.loads(capsys.readouterr().out)
    failed = [(c["name"], c["exit_code"]) for c in doc["checks"] if c["outcome"] == "fail"]
    assert failed == [("rim-available", 10)]
