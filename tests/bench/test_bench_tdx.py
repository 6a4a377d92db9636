"""TDX quote verification with warm collateral against dcap-qvl (Rust, PyPI 0.7.0) on the same
quotes in the same run. Run with ``nox -s bench``; written up in docs/performance.md."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import dcap_qvl  # type: ignore[import-untyped]
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "verifier" / "tdx"))
from tdx_vectors import QVL_20, QVL_B0, qvl_collateral, tdx_dir

from cairn_verifier.errors import ExitCode
from cairn_verifier.tdx.quote import parse_quote
from cairn_verifier.tdx.verify import TdxVerifyRequest, verify_tdx_quote

CASES = {
    "b0c06f": ("dcap-qvl/sample/tdx_quote", QVL_B0, "2025-06-19T10:32:27Z"),
    "20a06f": ("dcap-qvl/near-gas-test/quote_hex.txt", QVL_20, "2025-09-02T07:41:59Z"),
}


def _quote_bytes(testdata: Path, rel: str) -> bytes:
    data = (tdx_dir(testdata) / rel).read_bytes()
    if rel.endswith(".txt"):
        data = bytes.fromhex("".join(data.decode().split()))
    return data


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.mark.parametrize("case", sorted(CASES))
def test_cairn_verify_tdx_warm(benchmark, testdata: Path, case: str) -> None:
    rel, collateral_rel, at = CASES[case]
    raw = _quote_bytes(testdata, rel)
    request = TdxVerifyRequest(at=_when(at), collateral=qvl_collateral(testdata, collateral_rel))

    def verify() -> ExitCode:
        return verify_tdx_quote(parse_quote(raw), request).exit_code

    assert verify() is ExitCode.OK  # warm-up: parses and verifies the collateral once
    benchmark.group = f"tdx-{case}"
    assert benchmark(verify) is ExitCode.OK


@pytest.mark.parametrize("case", sorted(CASES))
def test_dcap_qvl_verify(benchmark, testdata: Path, case: str) -> None:
    rel, collateral_rel, at = CASES[case]
    raw = _quote_bytes(testdata, rel)
    collateral = dcap_qvl.QuoteCollateralV3.from_json(
        (tdx_dir(testdata) / collateral_rel).read_text()
    )
    now = int(_when(at).timestamp())
    dcap_qvl.verify(raw, collateral, now)
    benchmark.group = f"tdx-{case}"
    report = benchmark(dcap_qvl.verify, raw, collateral, now)
    assert report.status == "UpToDate"
