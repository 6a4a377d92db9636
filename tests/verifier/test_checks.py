"""The shapes the SEV-SNP and TDX pipelines share (checks.py): one request base, one stop
exception with the step runner that raises it, one wording of what a pass does not prove."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cairn_verifier.checks import Outcome, PipelineRun, StopError, VerifyRequest
from cairn_verifier.cli.main import main
from cairn_verifier.errors import ChainError, ExitCode, ParseError
from cairn_verifier.snp.verify import SnpVerifyRequest
from cairn_verifier.tdx.verify import TdxVerifyRequest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TURIN = EXAMPLES / "snp/turin-v5-oak-containers"
TDX = EXAMPLES / "tdx/dcap-qvl-sample"
AT = datetime(2025, 7, 1, tzinfo=UTC)


def test_both_requests_share_one_base() -> None:
    shared = {f.name for f in dataclasses.fields(VerifyRequest)}
    assert shared == {"at", "policy", "report_data", "subject", "trusted_root"}
    snp, tdx = SnpVerifyRequest(at=AT), TdxVerifyRequest(at=AT)
    for request in (snp, tdx):
        assert isinstance(request, VerifyRequest)
        assert shared <= {f.name for f in dataclasses.fields(request)}
        assert request.report_data is None and request.trusted_root is None
    assert (snp.subject, tdx.subject) == ("report", "quote")


def test_stop_on_records_a_pass_and_returns_the_value() -> None:
    run = PipelineRun()
    assert run.stop_on("step", "component", lambda: 7, "it worked") == 7
    (check,) = run.log.checks
    assert (check.name, check.outcome, check.summary) == ("step", Outcome.PASS, "it worked")


def test_stop_on_records_the_typed_failure_and_stops() -> None:
    def fail() -> None:
        raise ChainError("no chain", component="inner", hint="fix it")

    run = PipelineRun()
    with pytest.raises(StopError) as info:
        run.stop_on("step", "outer", fail, "unused")
    assert isinstance(info.value.__cause__, ChainError)
    (check,) = run.log.checks
    assert (check.outcome, check.component, check.summary) == (Outcome.FAIL, "outer", "no chain")
    assert (check.category, check.hint) == (ExitCode.CHAIN_UNTRUSTED, "fix it")


def test_stop_on_lets_other_errors_through() -> None:
    def fail() -> None:
        raise ParseError("not a chain problem")

    run = PipelineRun()
    with pytest.raises(ParseError):
        run.stop_on("step", "outer", fail, "unused", catch=ChainError)
    assert run.log.checks == []


def _warnings(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    assert main([*argv, "--json"]) == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert isinstance(warnings, list)
    return warnings


def test_what_a_pass_does_not_prove(capsys: pytest.CaptureFixture[str]) -> None:
    snp = ["verify", "snp", str(TURIN / "report.bin"), "--certs", str(TURIN), "--offline"]
    assert _warnings(snp, capsys) == [
        "no launch measurement pinned: this proves a genuine SEV-SNP guest on an AMD platform, "
        "not WHICH guest (set measurements in the [snp] policy)",
        "no REPORT_DATA expected: freshness is not proven; the report may be a replay (pass "
        "--report-data with your nonce)",
    ]
    tdx = [
        "verify",
        "tdx",
        str(TDX / "quote.bin"),
        "--collateral",
        str(TDX / "collateral.json"),
        "--at",
        "2025-07-01T00:00:00Z",
    ]
    assert _warnings(tdx, capsys) == [
        "no MRTD pinned: this proves a genuine TD on an Intel TDX platform, not WHICH TD (set "
        "mr_td and rtmr0-3 in the [tdx] policy)",
        "no REPORTDATA expected: freshness is not proven; the quote may be a replay (pass "
        "--report-data with your nonce)",
    ]
    report_data = (TURIN / "report.bin").read_bytes()[0x50:0x90].hex()
    assert _warnings([*snp, "--report-data", report_data], capsys) == [
        "no launch measurement pinned: this proves a genuine SEV-SNP guest on an AMD platform, "
        "not WHICH guest (set measurements in the [snp] policy)",
    ]
