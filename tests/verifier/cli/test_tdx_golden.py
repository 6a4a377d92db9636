"""``cairn show tdx`` and ``cairn verify tdx`` print exactly what they printed when these golden
files were recorded (text and ``--json``): the bundled example (a v4 quote with trailing bytes)
and v5 quotes from tests/vectors/tdx, one verified and one rejected on its TCB status.

Code that moves the quote model, its rendering or the collateral loaders must keep every byte.
To record a deliberate change of output, run with ``CAIRN_UPDATE_GOLDEN=1`` (the test then
rewrites the file and fails, so an update is never a silent pass) and review the diff.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from cairn_verifier.cli.main import main

REPO = Path(__file__).resolve().parents[3]
GOLDEN = Path(__file__).resolve().parent / "golden" / "tdx"
EXAMPLE = "examples/tdx/dcap-qvl-sample"
V5 = "go-tdx-guest/testdata/quote_v5_sample.dat"
V5_OUTDATED = "dcap-qvl/sample/tdx_quote_outdated"
QVL_90 = "dcap-qvl/sample/tdx_quote_outdated_collateral.json"
OFFLINE = ["--offline", "--no-cache"]


@dataclass(frozen=True)
class Case:
    name: str
    where: str  # "repo": paths relative to the repository; "vectors": relative to testdata/tdx
    argv: tuple[str, ...]
    exit_code: int


_CASES = [
    Case("show-example", "repo", ("show", "tdx", f"{EXAMPLE}/quote.bin"), 0),
    Case("show-v5", "vectors", ("show", "tdx", V5), 0),
    Case("show-v5-outdated", "vectors", ("show", "tdx", V5_OUTDATED), 0),
    Case(
        "verify-example",
        "repo",
        (
            "verify",
            "tdx",
            f"{EXAMPLE}/quote.bin",
            "--collateral",
            f"{EXAMPLE}/collateral.json",
            "--at",
            "2025-06-19T10:32:27Z",
            *OFFLINE,
        ),
        0,
    ),
    Case(
        "verify-v5",
        "vectors",
        ("verify", "tdx", V5, "--collateral", QVL_90, "--at", "2026-02-18T10:58:51Z", *OFFLINE),
        0,
    ),
    Case(
        "verify-v5-outdated",
        "vectors",
        (
            "verify",
            "tdx",
            V5_OUTDATED,
            "--collateral",
            QVL_90,
            "--at",
            "2026-02-18T10:58:51Z",
            *OFFLINE,
        ),
        4,
    ),
]
CASES = [
    pytest.param(case, json_output, id=f"{case.name}{'-json' if json_output else ''}")
    for case in _CASES
    for json_output in (False, True)
]


@pytest.mark.parametrize(("case", "json_output"), CASES)
def test_tdx_output_is_byte_identical_to_the_golden_file(
    case: Case,
    json_output: bool,
    testdata: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(REPO if case.where == "repo" else testdata / "tdx")
    code = main([*case.argv, *(["--json"] if json_output else [])])
    out = capsys.readouterr().out
    golden = GOLDEN / f"{case.name}{'.json' if json_output else '.txt'}"
    if os.environ.get("CAIRN_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(out, encoding="utf-8")
        pytest.fail(f"rewrote {golden.relative_to(REPO)}: review the diff, then rerun without it")
    assert code == case.exit_code
    assert out == golden.read_text(encoding="utf-8")


def test_every_golden_file_belongs_to_a_case() -> None:
    expected = {f"{c.name}{suffix}" for c in _CASES for suffix in (".txt", ".json")}
    assert {p.name for p in GOLDEN.iterdir()} == expected
