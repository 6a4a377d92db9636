"""``cairn show evidence`` decodes a bundle's ``gpu`` member: per device the family its leaf
names, the driver and VBIOS (switch BIOS) versions and FWID its report states, and its number of
measurement blocks, as ``cairn show gpu`` decodes the same reports; JSON and text. The devices
are real NVIDIA reports (tests/vectors/gpu) placed in a committed bundle vector."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from cairn_verifier.cli.main import main
from cairn_verifier.errors import ExitCode
from cairn_verifier.evidence import load_evidence
from cairn_verifier.inputs.gpu import read_gpu_evidence
from cairn_verifier.x509.cert import load_certificates

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gpu"))
from gpu_vectors import BY_NAME

BUNDLE = Path(__file__).resolve().parent / "bundles" / "sev-snp-simulated.json"
PPCIE = BY_NAME["gnat-ppcie-8gpu-4switch"]  # 8 Hopper GPUs and 4 NVSwitches
BLACKWELL = BY_NAME["nvattest-blackwell-575.32"]


def _devices(testdata: Path, name: str) -> list[dict[str, Any]]:
    source = BY_NAME[name]
    gpu = testdata / "gpu"
    certs = None
    if source.certs is not None:
        certs = [c.der for c in load_certificates((gpu / source.certs).read_bytes())]
    evidence = read_gpu_evidence((gpu / source.evidence).read_bytes(), certs)
    return [
        {
            "report": base64.b64encode(device.report).decode(),
            "certificates": [base64.b64encode(der).decode() for der in device.certificates],
        }
        for device in evidence.devices
    ]


def _bundle_with_gpus(tmp_path: Path, devices: list[dict[str, Any]]) -> Path:
    document = json.loads(BUNDLE.read_bytes())
    document["gpu"] = {"devices": devices}
    digest = load_evidence(json.dumps(document).encode()).gpu
    assert digest is not None
    document["claims"]["gpu_digest"] = digest.digest().hex()
    path = tmp_path / "bundle-with-gpus.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def bundle(testdata: Path, tmp_path: Path) -> Path:
    ppcie = _devices(testdata, PPCIE.name)
    # a Hopper GPU, an NVSwitch, a Blackwell GPU
    return _bundle_with_gpus(tmp_path, [ppcie[0], ppcie[8], *_devices(testdata, BLACKWELL.name)])


def test_show_evidence_json_lists_every_gpu_as_show_gpu_decodes_it(
    bundle: Path, testdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", "evidence", str(bundle), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    gpus = doc["fields"]["gpu"]
    assert gpus["digest"] == doc["fields"]["claims"]["gpu_digest"]
    hopper, switch, blackwell = gpus["devices"]
    assert [d["device"] for d in gpus["devices"]] == [0, 1, 2]
    assert (hopper["kind"], hopper["family"]) == ("GPU", "GH100")
    assert (switch["kind"], switch["family"]) == ("NVSwitch", "LS_10")
    assert (blackwell["kind"], blackwell["family"]) == ("GPU", "GB100")
    # the values tests/verifier/gpu/test_gpu_cli.py reads with `cairn show gpu`
    assert (hopper["driver_version"], hopper["firmware_version"]) == (
        "570.124.06",
        "96.00.CF.00.02",
    )
    assert switch["firmware_version"] == "96.10.6D.00.01"
    assert (hopper["measurement_blocks"], switch["measurement_blocks"]) == (64, 31)
    assert hopper["nonce"] == PPCIE.nonce and blackwell["nonce"] == BLACKWELL.nonce
    assert "CN=GH100 A01 GSP FMC LF" in hopper["leaf"] and "GB100" in blackwell["leaf"]

    # the same reports through `cairn show gpu`: every summarised value is what it decodes
    gpu = testdata / "gpu"
    argv = ["show", "gpu", str(gpu / BLACKWELL.evidence), "--certs", f"{gpu}/{BLACKWELL.certs}"]
    assert main([*argv, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["fields"]["devices"][0]
    assert blackwell["driver_version"] == shown["decoded"]["driver_version"] is not None
    assert blackwell["firmware_version"] == shown["decoded"]["firmware_version"] is not None
    assert blackwell["fwid"] == shown["decoded"]["fwid"] is not None
    assert blackwell["measurement_blocks"] == len(shown["measurement_blocks"]) > 0
    assert len(blackwell["fwid"]) == 96  # SHA-384

    # every device certificate is listed with the TEE's
    chains = sum(d["certificates"] for d in gpus["devices"])
    assert chains == 5 + 5 + len(_devices(testdata, BLACKWELL.name)[0]["certificates"])
    assert len(doc["certificates"]) >= chains


def test_show_evidence_text_has_a_gpu_section(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", "evidence", str(bundle)]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["GPUs:"] in lines
    assert ["devices", "3"] in lines
    assert ["device", "0", "GPU", "GH100"] in lines
    assert ["device", "1", "NVSwitch", "LS_10"] in lines
    assert ["driver", "version", "570.124.06"] in lines
    assert ["VBIOS", "version", "96.00.CF.00.02"] in lines
    assert ["switch", "BIOS", "version", "96.10.6D.00.01"] in lines
    assert ["measurement", "blocks", "64"] in lines


def test_show_evidence_without_gpus_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "evidence", str(BUNDLE), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fields"]["gpu"] is None
    assert main(["show", "evidence", str(BUNDLE)]) == 0
    assert ["gpus", "none", "in", "the", "bundle"] in [
        line.split() for line in capsys.readouterr().out.splitlines()
    ]


def test_a_malformed_gpu_report_is_malformed_input_naming_the_device(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    devices = _devices(testdata, PPCIE.name)[:2]
    report = base64.b64decode(devices[1]["report"])
    devices[1]["report"] = base64.b64encode(report[:200]).decode()  # cut inside the blocks
    path = _bundle_with_gpus(tmp_path, devices)
    assert main(["show", "evidence", str(path), "--json"]) == ExitCode.MALFORMED_INPUT
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "ParseError"
    assert error["component"].startswith("gpu.devices[1]"), error
