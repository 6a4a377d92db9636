"""NVIDIA RIMs: strict reading, XML-DSig, the CoRIM chain at the RIM's fetch time, tampering,
and the golden comparison against real reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gpu_vectors import GNAT, NVTRUST_OLD_NONCE, NVTRUST_TEST_NONCE, SDK

from cairn_verifier.cli.main import main
from cairn_verifier.errors import ParseError, SignatureError
from cairn_verifier.gpu.golden import compare
from cairn_verifier.gpu.report import Nvdec0
from cairn_verifier.gpu.rim import load_rim, verify_rim_signature

RIMS = f"{GNAT}/rim"
DRIVER = f"{RIMS}/NV_GPU_DRIVER_GH100_550.90.07.xml"
VBIOS = f"{RIMS}/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml"
FETCHED = "2025-10-24T11:30:00Z"  # when go-nvattest-tools' OCSP answers about these RIMs date


def _gpu(testdata: Path, relative: str) -> Path:
    return testdata / "gpu" / relative


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main([*argv, "--offline", "--no-cache", "--json"])
    return code, json.loads(capsys.readouterr().out)


def checks(doc: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [c for c in doc["checks"] if c["name"] == name]


def test_nvidia_rims_verify_and_read(testdata: Path) -> None:
    document = load_rim(_gpu(testdata, DRIVER).read_bytes())
    content = verify_rim_signature(document)
    assert (content.product, content.edition, content.colloquial_version) == (
        "GH100",
        "GPU",
        "550.90.07",
    )
    assert len(content.measurements) == 64 and len(content.active) == 21
    assert [c.display_name for c in document.certificates] == [
        "HCC RIM L4 Signer",
        "NVIDIA Reference Value L3 GH100 002",
        "NVIDIA Reference Value GH100 CA",
        "NVIDIA CoRIM signing Root CA",
    ]


ALTERED = (
    f"{SDK}/sample_rims/NV_GPU_DRIVER_GH100_535.86.09_measurement_mismatch.xml",
    f"{SDK}/sample_rims/NV_GPU_DRIVER_GH100_570.124.03_expired.xml",
    f"{SDK}/sample_rims/NV_SWITCH_BIOS_5612_0002_890_9610550001_invalid_signature.xml",
    f"{SDK}/sample_rims/NV_SWITCH_BIOS_5612_0002_890_9610550001_measurement_mismatch.xml",
)


@pytest.mark.parametrize("rim", ALTERED, ids=lambda p: Path(p).name)
def test_content_altered_after_signing_fails_the_digest(testdata: Path, rim: str) -> None:
    with pytest.raises(SignatureError, match="Digest mismatch"):
        verify_rim_signature(load_rim(_gpu(testdata, rim).read_bytes()))


def test_a_bad_signature_value_fails(testdata: Path) -> None:
    rim = load_rim(_gpu(testdata, f"{SDK}/incorrect_signature_driver_rim.xml").read_bytes())
    with pytest.raises(SignatureError, match="does not verify"):
        verify_rim_signature(rim)


def test_every_byte_of_a_measurement_hash_is_covered(testdata: Path) -> None:
    """Changing one digit of one golden hash (the RIM's substance) breaks the signature."""
    raw = _gpu(testdata, DRIVER).read_bytes()
    marker = b'index="7" active="True" alternatives="1" ns2:Hash0="80161aac'
    assert raw.count(marker) == 1
    tampered = raw.replace(marker, marker[:-1] + b"d")
    with pytest.raises(SignatureError):
        verify_rim_signature(load_rim(tampered))


def test_a_swapped_signer_certificate_fails(testdata: Path) -> None:
    """The VBIOS RIM's signer put in the driver RIM's X509Data: the signature no longer
    verifies with the key the chain names."""
    driver = _gpu(testdata, DRIVER).read_bytes()
    vbios = load_rim(_gpu(testdata, VBIOS).read_bytes())
    ours = load_rim(driver).certificates[0]
    import base64

    tampered = driver.replace(
        base64.b64encode(ours.der)[:64], base64.b64encode(vbios.certificates[0].der)[:64]
    )
    with pytest.raises((SignatureError, ParseError)):
        verify_rim_signature(load_rim(tampered))


FIXTURES = sorted(
    (Path(__file__).resolve().parents[2] / "vectors/gpu" / RIMS).glob("failure_*.xml")
)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_googles_malformed_rim_fixtures_are_refused(fixture: Path) -> None:
    with pytest.raises(ParseError):
        load_rim(fixture.read_bytes())


def test_there_are_eighteen_malformed_fixtures() -> None:
    assert len(FIXTURES) == 18


def test_a_dtd_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "x">]><a>&x;</a>'
    with pytest.raises(ParseError, match="DTD"):
        load_rim(bomb)


# --- through cairn verify gpu -------------------------------------------------------------


def _sample(testdata: Path) -> list[str]:
    report = _gpu(testdata, f"{GNAT}/test_raw_gpu_attestation_report.dat")
    chain = _gpu(testdata, f"{GNAT}/test_gpu_attestation_certificate_chain.dat")
    return ["verify", "gpu", str(report), "--certs", str(chain), "--nonce", NVTRUST_TEST_NONCE]


def test_the_golden_measurements_match(testdata: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*_sample(testdata), "--rim", str(_gpu(testdata, DRIVER))]
    argv += ["--rim", str(_gpu(testdata, VBIOS)), "--rim-fetched-at", FETCHED]
    code, doc = run([*argv, "--at", "2025-10-25T00:00:00Z"], capsys)
    assert code == 0
    (measurements,) = checks(doc, "measurements")
    assert measurements["outcome"] == "pass"
    assert (
        "32 of 32 active measurements match; index 35 skipped (NVDEC0 disabled)"
        in (measurements["summary"])
    )
    assert doc["claims"]["devices"][0]["measurements_match"] is True
    rims = doc["claims"]["devices"][0]["rims"]
    assert [r["id"] for r in rims] == [
        "NV_GPU_DRIVER_GH100_550.90.07",
        "NV_GPU_VBIOS_1010_0200_882_96009F0001",
    ]
    assert {r["fetched_at"] for r in rims} == {FETCHED}


def test_a_rim_verified_now_after_its_signer_expired_fails_but_passes_at_its_fetch_time(
    testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 550.90.07 driver RIM's signer expired on 2026-06-01: judged as of the verification
    time (2026-12-07, no fetch time given) the chain fails; as of its fetch time it passes."""
    argv = [*_sample(testdata), "--rim", str(_gpu(testdata, DRIVER)), "--at"]
    code, doc = run([*argv, "2026-12-07T00:00:00Z"], capsys)
    (chain,) = checks(doc, "rim-chain")
    assert (code, chain["outcome"], chain["exit_code"]) == (3, "fail", 3)
    assert "expired on 2026-06-01T02:08:29Z" in chain["summary"]
    assert "when the RIM was fetched" in chain["summary"]
    code, doc = run([*argv, "2026-12-07T00:00:00Z", "--rim-fetched-at", FETCHED], capsys)
    (chain,) = checks(doc, "rim-chain")
    assert (code, chain["outcome"]) == (0, "pass")


def test_a_rim_chained_to_the_debug_root_is_refused(
    testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rim = load_rim(_gpu(testdata, f"{SDK}/incorrect_cert_chain_driver_rim.xml").read_bytes())
    assert rim.certificates[1].display_name == "NVIDIA CoRIM L1 Root CA Debug Only"
    from cairn_verifier.gpu.chain import RIM_RULES, split_root
    from cairn_verifier.gpu.roots import NvidiaRoot, pinned_root

    with pytest.raises(Exception, match="not the pinned NVIDIA CoRIM signing Root CA"):
        split_root(list(rim.certificates), pinned_root(NvidiaRoot.CORIM), RIM_RULES)


def test_a_rim_of_another_version_fails_its_identity(
    testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 545.00 driver RIM does not describe a 550.90.07 driver: never used for it."""
    argv = [
        *_sample(testdata),
        "--rim",
        str(_gpu(testdata, "nvtrust/rims/Driver_RIM_test_no_gpu.swidtag")),
    ]
    code, doc = run([*argv, "--at", "2025-10-25T00:00:00Z"], capsys)
    assert code == 0  # not matched to the device: the driver RIM is reported unavailable
    available = checks(doc, "rim-available")
    assert [c["outcome"] for c in available] == ["skipped", "skipped"]


def test_a_mismatch_is_named_by_index_and_rim(
    testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 545.00 sample matches nvtrust's test_no_gpu VBIOS RIM fully; NVIDIA's production
    versions of the same RIM id (two signed versions, differing only at index 9, PROVENANCE.md)
    differ from it at indices 1, 2, 3 and 9, each named with its RIM and expected value."""
    report = _gpu(testdata, "nvtrust/attestationReport.txt")
    chain = _gpu(testdata, "nvtrust/gpuAkCertChain.txt")
    base = ["verify", "gpu", str(report), "--certs", str(chain), "--nonce", NVTRUST_OLD_NONCE]
    base += ["--rim", str(_gpu(testdata, "nvtrust/rims/Driver_RIM_test_no_gpu.swidtag"))]
    base += ["--at", "2025-01-01T00:00:00Z", "--rim-fetched-at", "2024-06-01T00:00:00Z"]
    good = "nvtrust/rims/1010_0200_882_96005E0001_test_no_gpu.swidtag"
    code, doc = run([*base, "--rim", str(_gpu(testdata, good))], capsys)
    (measurements,) = checks(doc, "measurements")
    assert (code, measurements["outcome"]) == (0, "pass")
    assert measurements["summary"].startswith("32 of 32 active measurements match")
    versions = {
        "7f3e9382": "nvtrust/rims/1010_0200_882_96005E0001_PROD.swidtag",
        "059b32e7": f"{SDK}/sample_rims/NV_GPU_VBIOS_1010_0200_882_96005E0001"
        "_measurement_mismatch.xml",
    }
    for index9, rim in versions.items():
        code, doc = run([*base, "--rim", str(_gpu(testdata, rim))], capsys)
        (measurements,) = checks(doc, "measurements")
        assert (code, measurements["exit_code"]) == (1, 1)
        summary = measurements["summary"]
        assert summary.startswith("4 of 32 measurements differ; index 35 skipped")
        named = "(VBIOS RIM NV_GPU_VBIOS_1010_0200_882_96005E0001): reported"
        assert [f"index {i} {named}" in summary for i in (1, 2, 3, 9)] == [True] * 4
        assert f"expected {index9}" in summary.split("index 9 ")[1]


def test_the_switch_bios_rim_matches_all_31(
    testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["verify", "gpu", str(_gpu(testdata, f"{SDK}/switchAttestationReport.txt"))]
    argv += ["--certs", str(_gpu(testdata, f"{SDK}/switchCertChain.txt"))]
    rim = f"{SDK}/switchVBIOSRim_NV_SWITCH_BIOS_5612_0002_890_9610550001.xml"
    argv += ["--nonce", NVTRUST_TEST_NONCE, "--rim", str(_gpu(testdata, rim))]
    code, doc = run([*argv, "--at", "2026-06-01T00:00:00Z"], capsys)
    (measurements,) = checks(doc, "measurements")
    assert (code, measurements["summary"][:36]) == (0, "31 of 31 active measurements match; ")
    (available,) = checks(doc, "rim-available")
    assert "NV_SWITCH_BIOS_5612_0002_890_9610550001" in available["summary"]


def test_conflicting_rims_and_missing_blocks_are_named(testdata: Path) -> None:
    driver = load_rim(_gpu(testdata, DRIVER).read_bytes()).content
    result = compare((), [("driver", driver), ("again", driver)], Nvdec0.ENABLED)
    assert not result.ok and len(result.conflicts) == 21 and result.mismatches == ()
    result = compare((), [("driver", driver)], Nvdec0.ENABLED)
    assert len(result.mismatches) == 21
    assert result.mismatches[0].describe().startswith("index 7 (driver): the report has no block 8")
