"""`cairn --version [--verbose] [--json]`: the release version, and the versions of the formats
the parsers accept (evidence bundle, REPORT_DATA, collateral bundle, …) with their specs."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from cairn_verifier.binding.gpu_digest import DIGEST_DOMAIN, NONCE_DOMAIN
from cairn_verifier.binding.report_data import REPORT_DATA_VERSION
from cairn_verifier.cli.main import main
from cairn_verifier.cli.version import format_versions
from cairn_verifier.collateral.bundle import BUNDLE_VERSION
from cairn_verifier.errors import ExitCode
from cairn_verifier.evidence.models import EVIDENCE_VERSION

REPO = Path(__file__).resolve().parents[3]
VERSION = tomllib.loads((REPO / "verifier/pyproject.toml").read_text())["project"]["version"]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version_is_the_pyproject_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["--version"], capsys) == (0, f"cairn {VERSION}\n", "")


@pytest.mark.parametrize("argv", [["--version", "--verbose"], ["--verbose", "--version"]])
def test_verbose_names_the_format_versions(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(argv, capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"cairn {VERSION} (cairn-verifier)"
    rows = {line.split("  ")[1].strip(): line for line in lines if line.startswith("  ")}
    assert re.search(rf"cairn-evidence +v{EVIDENCE_VERSION} ", rows["evidence bundle"])
    assert re.search(rf"cairn/report-data/v2 +v{REPORT_DATA_VERSION} ", rows["REPORT_DATA"])
    # v1 evidence is still verified (docs/spec/report-data-v2.md)
    assert re.search(r"cairn/report-data/v1 +v1 ", rows["REPORT_DATA (older)"])
    assert re.search(rf"cairn-collateral-bundle +v{BUNDLE_VERSION} ", rows["collateral bundle"])
    assert re.search(
        r"cairn/gpu-evidence/v1 +v1 +docs/spec/gpu-evidence-v1\.md$", rows["GPU evidence binding"]
    )
    assert lines[-1].startswith("runtime: Python 3.")


def test_json_is_one_document_with_the_formats(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["--version", "--json"], capsys)
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert (doc["name"], doc["distribution"]) == ("cairn", "cairn-verifier")
    assert doc["version"] == VERSION
    formats = {entry["name"]: entry for entry in doc["formats"]}
    assert formats["evidence bundle"]["version"] == EVIDENCE_VERSION
    assert formats["REPORT_DATA"]["version"] == REPORT_DATA_VERSION
    assert formats["collateral bundle"]["version"] == BUNDLE_VERSION
    assert (formats["Azure vTPM binding"]["tag"], formats["Azure vTPM binding"]["version"]) == (
        "azure-vtpm",
        1,
    )
    gpu = formats["GPU evidence binding"]
    assert (gpu["tag"], gpu["version"], gpu["spec"]) == (
        "cairn/gpu-evidence/v1",
        1,
        "docs/spec/gpu-evidence-v1.md",
    )
    assert set(doc["dependencies"]) == {"cryptography", "httpx", "pydantic"}
    assert all(isinstance(v, str) for v in doc["dependencies"].values())


def test_every_named_spec_exists_and_is_that_version(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--version", "--json"])
    for entry in json.loads(capsys.readouterr().out)["formats"]:
        path = REPO / entry["spec"].split(" ")[0]
        assert path.is_file(), entry
        title = path.read_text().splitlines()[0]
        if path.parent.name == "spec" and entry["name"] != "service proof document":
            # The spec's title carries its version ("# Evidence bundle v1", "# REPORT_DATA v1").
            assert title.endswith(f" v{entry['version']}"), (entry, title)


def test_the_gpu_binding_version_is_the_one_its_domains_name() -> None:
    """Both domain strings of docs/spec/gpu-evidence-v1.md end in the version named."""
    version = next(f.version for f in format_versions() if f.name == "GPU evidence binding")
    assert f"cairn/gpu-evidence/v{version}\0".encode() == DIGEST_DOMAIN
    assert f"cairn/gpu-nonce/v{version}".encode() == NONCE_DOMAIN


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--verbose"], "the following arguments are required: COMMAND"),
        (["--verbose", "show", "snp", "r.bin"], "unrecognized arguments: --verbose"),
    ],
)
def test_verbose_without_version_is_a_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(argv, capsys)
    assert (code, out) == (ExitCode.USAGE_OR_SETUP, "")
    assert message in err
    code, out, _ = _run([*argv, "--json"], capsys)
    assert code == ExitCode.USAGE_OR_SETUP
    assert json.loads(out)["error"]["type"] == "UsageError"


def test_the_version_option_says_what_verbose_adds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--version print the version and exit; `cairn --version --verbose` also prints" in text
