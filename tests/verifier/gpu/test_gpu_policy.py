"""The ``[gpu]`` policy keys on a real node: go-nvattest-tools' PPCIe capture (8 GH100 GPUs with
driver 570.124.06 and VBIOS 96.00.CF.00.02, 4 LS_10 NVSwitches with BIOS 96.10.6D.00.01 and no
FWID), through ``cairn verify gpu --policy``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gpu_vectors import BY_NAME

from cairn_verifier.cli.main import main

NODE = BY_NAME["gnat-ppcie-8gpu-4switch"]


def run(
    testdata: Path, tmp_path: Path, policy: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "policy.toml"
    path.write_text("[gpu]\n" + policy)
    code = main([*NODE.argv(testdata / "gpu"), "--policy", str(path)])
    return code, json.loads(capsys.readouterr().out)


def outcomes(doc: dict[str, Any], name: str) -> list[tuple[str, str]]:
    return [(c["component"], c["outcome"]) for c in doc["checks"] if c["name"] == name]


def failures(doc: dict[str, Any]) -> list[tuple[str, str, int]]:
    checks = doc["checks"]
    return [(c["name"], c["component"], c["exit_code"]) for c in checks if c["outcome"] == "fail"]


GPUS = [f"GPU {n}" for n in range(8)]
SWITCHES = [f"NVSwitch {n}" for n in range(8, 12)]


def test_the_node_meets_a_policy_naming_it_exactly(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = (
        'families = ["GH100", "LS_10"]\n'
        "device_counts = { GH100 = 8, LS_10 = 4 }\n"
        'driver_versions = ["570.124.06"]\nminimum_driver_version = "570.124.06"\n'
        'vbios_versions = ["96.00.cf.00.02"]\nminimum_vbios_version = "96.00.CF.00.02"\n'
        'switch_bios_versions = ["96.10.6D.00.01"]\n'
        'minimum_switch_bios_version = "96.10.6D.00.01"\n'
    )
    code, doc = run(testdata, tmp_path, policy, capsys)
    assert (code, failures(doc)) == (0, [])
    assert outcomes(doc, "device-family") == [(d, "pass") for d in GPUS + SWITCHES]
    assert outcomes(doc, "driver-version") == [(d, "pass") for d in GPUS]
    assert [o for _, o in outcomes(doc, "firmware-version")] == ["pass"] * 12
    assert [o for _, o in outcomes(doc, "device-count")] == ["pass"]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ('families = ["GH100"]\n', [("device-family", d, 4) for d in SWITCHES]),
        ('families = ["GB100"]\n', [("device-family", d, 4) for d in GPUS + SWITCHES]),
        (
            'driver_versions = ["570.124.07", "550.90.07"]\n',
            [("driver-version", d, 4) for d in GPUS],
        ),
        ('minimum_driver_version = "570.124.7"\n', [("driver-version", d, 4) for d in GPUS]),
        ('minimum_vbios_version = "96.00.D0.00.00"\n', [("firmware-version", d, 4) for d in GPUS]),
        (
            'switch_bios_versions = ["96.10.6D.00.02"]\n',
            [("firmware-version", d, 4) for d in SWITCHES],
        ),
        ("require_fwid = true\n", [("fwid", d, 4) for d in SWITCHES]),
    ],
)
def test_each_key_rejects_the_devices_it_names(
    testdata: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    policy: str,
    expected: list[tuple[str, str, int]],
) -> None:
    code, doc = run(testdata, tmp_path, policy, capsys)
    assert (code, failures(doc)) == (4, expected)


@pytest.mark.parametrize(
    ("counts", "words"),
    [
        ("{ GH100 = 7, LS_10 = 4 }", "GH100: 8 (expected 7)"),
        ("{ GH100 = 8, LS_10 = 4, GB100 = 1 }", "GB100: 0 (expected 1)"),
    ],
)
def test_device_counts_are_exact(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], counts: str, words: str
) -> None:
    code, doc = run(testdata, tmp_path, f"device_counts = {counts}\n", capsys)
    assert code == 4
    (check,) = [c for c in doc["checks"] if c["outcome"] == "fail"]
    assert check["name"] == "device-count" and words in check["summary"], check


@pytest.mark.parametrize(
    "policy",
    [
        'families = ["GH200"]\n',
        'minimum_driver_version = "570"\n',
        'vbios_versions = ["96.00.CF"]\n',
        "device_counts = { GH100 = 65 }\n",
        "require_fwid = 1\n",
        "fwid_required = true\n",
    ],
)
def test_a_malformed_gpu_section_is_malformed_input(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[gpu]\n" + policy)
    assert main([*NODE.argv(testdata / "gpu"), "--policy", str(path)]) == 10
    capsys.readouterr()
