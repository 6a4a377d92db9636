"""Batch verification: many reports or quotes in one `cairn verify snp|tdx` run.

Each input gets the result a run of its own gives (same checks, same exit code); an input that
cannot be read does not stop the others; the batch exits 0 only when every input verified, else
with the exit code of the first input that did not (docs/snp.md, "Batch verification").
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cairn_verifier.cli.main import main

REPO = Path(__file__).resolve().parents[3]
SNP = REPO / "examples" / "snp"
MILAN = SNP / "milan-v3-oak-containers"
GENOA = SNP / "genoa-v5-oak-containers"
TDX = REPO / "examples" / "tdx" / "dcap-qvl-sample"
TDX_AT = "2025-06-19T10:32:27Z"
SNP_OPTIONS = ["--certs", str(MILAN), "--offline", "--no-cache", "--at", "2026-03-01T00:00:00Z"]
TDX_OPTIONS = ["--collateral", str(TDX / "collateral.json"), "--offline", "--at", TDX_AT]


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _single(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, object]]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _checks(document: dict[str, object]) -> object:
    return document["checks"]


def test_each_report_gets_the_result_of_a_run_of_its_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    milan, genoa = str(MILAN / "report.bin"), str(GENOA / "report.bin")
    code = main(["verify", "snp", milan, genoa, milan, *SNP_OPTIONS, "--json"])
    results = _lines(capsys)
    assert [r["input"] for r in results] == [milan, genoa, milan]
    alone_milan = _single(capsys, ["verify", "snp", milan, *SNP_OPTIONS])
    alone_genoa = _single(capsys, ["verify", "snp", genoa, *SNP_OPTIONS])
    assert alone_milan[0] == 0 and alone_genoa[0] == 2  # Genoa's report, Milan's VCEK
    assert [r["exit_code"] for r in results] == [0, 2, 0]
    assert _checks(results[0]) == _checks(alone_milan[1]) == _checks(results[2])
    assert _checks(results[1]) == _checks(alone_genoa[1])
    assert code == 2  # the first input that did not verify


def test_an_unreadable_input_does_not_stop_the_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing, garbage = tmp_path / "missing.bin", tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a report")
    report = str(MILAN / "report.bin")
    code = main(["verify", "snp", str(missing), report, str(garbage), *SNP_OPTIONS, "--json"])
    results = _lines(capsys)
    assert [r["exit_code"] for r in results] == [10, 0, 10]
    assert results[0]["error"]["type"] == "MalformedInputError"  # type: ignore[index]
    assert results[1]["verified"] is True
    assert code == 10


def test_a_directory_stands_for_its_files_in_name_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    for name in ("b.bin", "a.bin", ".hidden.bin"):
        shutil.copy(MILAN / "report.bin", reports / name)
    (reports / "sub").mkdir()
    code = main(["verify", "snp", str(reports), *SNP_OPTIONS, "--json"])
    results = _lines(capsys)
    assert [Path(str(r["input"])).name for r in results] == ["a.bin", "b.bin"]
    assert code == 0


def test_text_output_lists_every_result_and_a_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    milan, genoa = str(MILAN / "report.bin"), str(GENOA / "report.bin")
    assert main(["verify", "snp", milan, genoa, *SNP_OPTIONS]) == 2
    out = capsys.readouterr().out
    assert out.count("Result: VERIFIED (exit 0)") == 1
    assert "Result: NOT VERIFIED: signature invalid" in out
    assert out.rstrip().endswith(
        "Batch: 1 of 2 verified; exit 2 (the first input that did not verify)"
    )


def _stdin(monkeypatch: pytest.MonkeyPatch, lines: list[bytes]) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\n".join(lines) + b"\n")))


def test_json_lines_in_json_lines_out(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = (MILAN / "report.bin").read_bytes().hex()
    tampered = bytearray.fromhex(report)
    tampered[0x50] ^= 1  # inside the signed part: the signature no longer verifies
    lines = [
        json.dumps({"report": report}).encode(),
        b"",  # blank lines are skipped, not inputs
        json.dumps({"report": tampered.hex()}).encode(),
        b"[1, 2]",
    ]
    _stdin(monkeypatch, lines)
    code = main(["verify", "snp", "-", "--jsonl", *SNP_OPTIONS])
    results = _lines(capsys)
    assert [r["input"] for r in results] == ["<stdin>:1", "<stdin>:3", "<stdin>:4"]
    assert [r["exit_code"] for r in results] == [0, 2, 10]
    assert code == 2


def test_jsonl_needs_lines_and_no_other_operand(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, [b""])
    assert main(["verify", "snp", "-", "--jsonl", *SNP_OPTIONS]) == 10
    assert "no input to verify" in capsys.readouterr().err
    report = str(MILAN / "report.bin")
    assert main(["verify", "snp", report, "--jsonl", *SNP_OPTIONS]) == 64
    assert "--jsonl reads the inputs from standard input" in capsys.readouterr().err


def test_tdx_quotes_in_one_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quote = str(TDX / "quote.bin")
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes((TDX / "quote.bin").read_bytes()[:600])
    code = main(["verify", "tdx", quote, str(truncated), quote, *TDX_OPTIONS, "--json"])
    results = _lines(capsys)
    alone = _single(capsys, ["verify", "tdx", quote, *TDX_OPTIONS])
    assert alone[0] == 0
    assert [r["exit_code"] for r in results] == [0, 10, 0]
    assert _checks(results[0]) == _checks(alone[1]) == _checks(results[2])
    assert code == 10


def test_a_batch_setup_error_stops_before_any_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Options are the batch's, not an input's: a bad one is one error for the whole run."""
    report = str(MILAN / "report.bin")
    code = main(["verify", "snp", report, report, *SNP_OPTIONS, "--report-data", "zz", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 10 and "input" not in document
    assert "--report-data" in document["error"]["message"]


def test_a_json_line_is_exactly_the_result_document() -> None:
    """Lines are written from a result's parts, each check's text encoded once and reused:
    byte for byte what encoding the whole document gives, for passing and failing results
    (expected, actual, hint, category), checks replayed or not, non-ASCII text escaped."""
    from cairn_verifier.cli.batch import result_line
    from cairn_verifier.snp.certs import load_cert_collection
    from cairn_verifier.snp.verify import SnpVerifyRequest, verify_snp_report

    at = datetime(2026, 3, 1, tzinfo=UTC)
    request = SnpVerifyRequest(at=at, certs=load_cert_collection(MILAN))
    reports = [(d / "report.bin").read_bytes() for d in (MILAN, GENOA, MILAN, GENOA)]
    results = [verify_snp_report(report, request) for report in reports]
    results.append(dataclasses.replace(results[0], container="hex > snp-report"))
    other_nonce = dataclasses.replace(request, report_data=bytes(64))
    results.append(verify_snp_report(reports[0], other_nonce))
    assert [r.exit_code for r in results] == [0, 2, 0, 2, 0, 1]
    assert any(c.outcome.value == "fail" and c.hint and c.expected for c in results[-1].checks)
    for index, result in enumerate(results):
        label = f"reports/{index}.bin"
        line = result_line(label, result)
        assert line == json.dumps({"input": label, **result.to_json()}, separators=(",", ":"))
        assert "\\u" in line  # non-ASCII summaries are escaped as json.dumps escapes them


@pytest.mark.parametrize(
    "check",
    [
        ("name", "component", "pass", "summary", None, None, None, None),
        ("n", "c", "fail", 'quote " backslash \\ tab \t nl \n', "é…", "\u202f\x00", "hint", 4),
        ("n", "c", "skipped", "reason", None, "actual", "hint", None),
        ("n", "c", "fail", "s", "expected", None, None, 1),
    ],
)
def test_a_check_is_written_as_json_dumps_writes_it(check: tuple[object, ...]) -> None:
    from cairn_verifier.checks import Check, Outcome
    from cairn_verifier.cli.batch import check_json_text
    from cairn_verifier.errors import ExitCode

    name, component, outcome, summary, expected, actual, hint, code = check
    made = Check(
        str(name),
        str(component),
        Outcome(outcome),
        str(summary),
        expected,  # type: ignore[arg-type]
        actual,  # type: ignore[arg-type]
        hint,  # type: ignore[arg-type]
        None if code is None else ExitCode(code),
    )
    assert check_json_text(made) == json.dumps(made.to_json(), separators=(",", ":"))
