"""`cairn show snp` and `cairn verify snp` print exactly what they printed before (text and --json).

Golden files under ``golden/snp`` hold the output for the three real reports in ``examples/snp``.
They pin the rendering byte for byte, so moving code between the report model and the CLI's
renderers cannot change what users see. After an intended output change, regenerate them with
``CAIRN_UPDATE_GOLDEN=1 ./dev test -- tests/verifier/cli/test_snp_golden.py`` (the run then
fails once, saying so) and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cairn_verifier.cli.main import main

REPO = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).resolve().parent / "golden" / "snp"
EXAMPLES = ("milan-v3-oak-containers", "genoa-v5-oak-containers", "turin-v5-oak-containers")
AT = "2026-03-01T00:00:00Z"  # inside every example VCEK's validity window


def _commands(example: str) -> dict[str, list[str]]:
    directory = f"examples/snp/{example}"
    report = f"{directory}/report.bin"
    verify = ["verify", "snp", report, "--certs", directory, "--offline", "--no-cache"]
    verify += ["--at", AT]
    return {
        "show.txt": ["show", "snp", report],
        "show.json": ["show", "snp", report, "--json"],
        "verify.txt": verify,
        "verify.json": [*verify, "--json"],
    }


CASES = [(example, output) for example in EXAMPLES for output in _commands(example)]


@pytest.mark.parametrize(("example", "output"), CASES, ids=[f"{e}/{o}" for e, o in CASES])
def test_snp_output_is_unchanged(
    example: str,
    output: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(REPO)  # the output names the report by the path given
    code = main(_commands(example)[output])
    printed = capsys.readouterr().out
    assert code == 0, printed
    golden = GOLDEN / f"{example}.{output}"
    if os.environ.get("CAIRN_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(printed, encoding="utf-8")
        pytest.fail(f"regenerated {golden.relative_to(REPO)}: review the diff and rerun")
    assert printed == golden.read_text(encoding="utf-8")
