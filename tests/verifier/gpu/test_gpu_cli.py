"""``cairn show gpu``, the text output of ``cairn verify gpu``, malformed inputs, and what a
start of ``cairn`` loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from gpu_vectors import GNAT, NVTRUST_TEST_NONCE

from cairn_verifier.cli.gpu_cmd import OCSP_URL, RIM_URL
from cairn_verifier.cli.main import main
from cairn_verifier.gpu.collateral import OCSP_SERVICE_URL, RIM_SERVICE_URL


def test_show_gpu_decodes_every_device(testdata: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = testdata / "gpu" / GNAT / "test_ppcie_data.json"
    assert main(["show", "gpu", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    devices = doc["fields"]["devices"]
    assert (doc["verified"], len(devices), len(doc["certificates"])) == (False, 12, 60)
    gpu, switch = devices[0], devices[8]
    assert (gpu["kind"], switch["kind"]) == ("GPU", "NVSwitch")
    assert gpu["decoded"]["driver_version"] == "570.124.06"
    assert gpu["decoded"]["firmware_version"] == "96.00.CF.00.02"
    assert switch["decoded"]["firmware_version"] == "96.10.6D.00.01"
    assert len(gpu["measurement_blocks"]) == 64 and len(switch["measurement_blocks"]) == 31
    names = {f["name"] for f in switch["opaque_fields"]}
    assert {"DEVICE_PDI", "SWITCH_GPU_PDIS", "VBIOS_VERSION"} <= names


def test_show_gpu_text(testdata: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = testdata / "gpu" / "nvtrust" / "hopperAttestationReport.txt"
    chain = testdata / "gpu" / "nvtrust" / "hopperCertChain.txt"
    assert main(["show", "gpu", str(path), "--certs", str(chain)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"NVIDIA GPU evidence: {path} (hex > spdm-report (4117 bytes))"
    assert lines[1].startswith("decoded only: nothing was verified")
    assert any(line.split() == ["driver", "version", "550.90.07"] for line in lines)
    assert any(line.split()[:2] == ["signature", "at"] and line.endswith("4021") for line in lines)


def test_verify_gpu_text_names_the_device_and_the_result(
    testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = testdata / "gpu" / GNAT / "test_raw_gpu_attestation_report.dat"
    chain = testdata / "gpu" / GNAT / "test_gpu_attestation_certificate_chain.dat"
    argv = ["verify", "gpu", str(path), "--certs", str(chain), "--offline", "--no-cache"]
    assert main([*argv, "--nonce", NVTRUST_TEST_NONCE]) == 0
    out = capsys.readouterr().out
    assert "PASS  spdm-signature      GPU 0" in out
    assert "not that CC mode is on" in out
    assert out.rstrip().endswith("Result: VERIFIED (exit 0)")


@pytest.mark.parametrize(
    ("argv", "code", "phrase"),
    [
        (["--nonce", "abcd"], 10, "--nonce is 2 bytes"),
        (["--rim-url", "ftp://x"], 10, "is not an http:// or https:// URL"),
        (["--policy", "-"], 10, "policy"),
    ],
)
def test_bad_options_are_malformed_input(
    testdata: Path, capsys: pytest.CaptureFixture[str], argv: list[str], code: int, phrase: str
) -> None:
    path = testdata / "gpu" / "nvtrust" / "gpu_evidence.json"
    result = main(["verify", "gpu", str(path), "--offline", "--no-cache", "--json", *argv])
    assert result == code
    assert phrase in json.loads(capsys.readouterr().out)["error"]["message"]


def test_the_cli_defaults_are_the_services_the_clients_know() -> None:
    assert (RIM_URL, OCSP_URL) == (RIM_SERVICE_URL, OCSP_SERVICE_URL)


def test_cairn_version_loads_no_gpu_pipeline() -> None:
    """The GPU commands' bodies (SPDM, RIMs, OCSP, lxml, signxml) load only when a GPU command
    runs; ``cairn --version`` loads nothing of the GPU package (not even the [gpu] policy model,
    which a policy file loads)."""
    code = (
        "import sys; from cairn_verifier.cli.main import main; main(['--version']); "
        "print('MODULES', *sorted(m for m in sys.modules if m.startswith(("
        "'cairn_verifier.gpu.', 'cairn_verifier.cli.gpu_run', 'lxml', 'signxml'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[-1].split() == ["MODULES"]
