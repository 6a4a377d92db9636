"""`cairn reference-values` output feeds `cairn verify snp --reference-values`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cairn_verifier.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "snp"))
from vectors import by_name


def test_reference_values_pin_the_measurement(
    testdata: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ovmf = testdata / "snp/sev-snp-measure/ovmf_AmdSev_suffix.bin"
    kernel = tmp_path / "kernel"
    kernel.write_bytes(b"")
    values = tmp_path / "reference.json"
    argv = ["reference-values", "--ovmf", str(ovmf), "--kernel", str(kernel)]
    argv += ["--initrd", str(kernel), "--append", "console=ttyS0", "--vcpus", "1,4"]
    assert main([*argv, "--vcpu-type", "EPYC-v4", "-o", str(values)]) == 0
    capsys.readouterr()

    vector = by_name(testdata, "oak/genoa_oc")
    report = tmp_path / "report.bin"
    report.write_bytes(vector.report)
    certs = tmp_path / "certs"
    certs.mkdir()
    for index, der in enumerate(vector.certs):
        (certs / f"{index}.der").write_bytes(der)
    assert vector.at is not None
    verify = ["verify", "snp", str(report), "--certs", str(certs), "--offline", "--json"]
    verify += ["--at", vector.at.isoformat(), "--reference-values", str(values)]
    assert main(verify) == 1  # computed values are not this guest's launch measurement
    doc = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in doc["checks"] if c["outcome"] == "fail"] == ["measurement"]

    document = json.loads(values.read_text())
    document["snp"]["measurements"].append(vector.report[0x90:0xC0].hex())
    values.write_text(json.dumps(document))
    assert main(verify) == 0


def test_missing_sev_snp_measure_is_a_setup_error(
    testdata: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "sevsnpmeasure.guest", None)  # as if not installed
    ovmf = testdata / "snp/sev-snp-measure/ovmf_AmdSev_suffix.bin"
    argv = ["reference-values", "--ovmf", str(ovmf), "--vcpus", "1", "--vcpu-type", "EPYC-v4"]
    assert main([*argv, "-o", str(tmp_path / "values.json"), "--json"]) == 64
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["type"] == "SetupError"
    assert "pip install sev-snp-measure==0.0.13" in error["hint"]
    assert not (tmp_path / "values.json").exists()
