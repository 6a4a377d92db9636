"""The defaults ``cairn verify snp|tdx`` use without ``--policy`` are the policy models' defaults.

The CLI reads them as plain values (``snp/default_policy.py``, ``tdx/default_policy.py``) so that
it need not import pydantic to start; these tests keep them equal to ``SnpPolicy()`` and
``TdxPolicy()`` field for field, and show that the pipelines decide alike on either.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from cairn_verifier.checks import VerificationResult
from cairn_verifier.snp.certs import load_cert_collection
from cairn_verifier.snp.default_policy import DefaultMinimumTcb, DefaultSnpPolicy
from cairn_verifier.snp.policy import MinimumTcb, SnpPolicy
from cairn_verifier.snp.verify import SnpVerifyRequest, verify_snp_report
from cairn_verifier.tdx.collateral import load_dcap_qvl_collateral
from cairn_verifier.tdx.default_policy import DefaultTdxPolicy
from cairn_verifier.tdx.policy import TdxPolicy
from cairn_verifier.tdx.quote import parse_quote
from cairn_verifier.tdx.verify import TdxVerifyRequest, verify_tdx_quote

REPO = Path(__file__).resolve().parents[2]


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(type(value), "model_fields"):
        return {name: _plain(getattr(value, name)) for name in type(value).model_fields}
    return value


def test_snp_defaults_equal_the_model_defaults() -> None:
    assert _plain(DefaultSnpPolicy()) == _plain(SnpPolicy())
    assert _plain(DefaultMinimumTcb()) == _plain(MinimumTcb())
    assert DefaultMinimumTcb().required() == MinimumTcb().required()


def test_tdx_defaults_equal_the_model_defaults() -> None:
    assert _plain(DefaultTdxPolicy()) == _plain(TdxPolicy())


def _outcome(result: VerificationResult) -> object:
    return (result.exit_code, result.to_json()["checks"], result.claims, result.warnings)


def test_the_snp_pipeline_decides_alike_on_either() -> None:
    example = REPO / "examples" / "snp" / "milan-v3-oak-containers"
    report = (example / "report.bin").read_bytes()
    request = SnpVerifyRequest(
        at=datetime(2026, 3, 1, tzinfo=UTC), certs=load_cert_collection(example)
    )
    model = verify_snp_report(report, request)
    plain = verify_snp_report(report, dataclasses.replace(request, policy=DefaultSnpPolicy()))
    assert isinstance(request.policy, SnpPolicy)  # the library's default is still the model
    assert _outcome(model) == _outcome(plain)


def test_the_tdx_pipeline_decides_alike_on_either() -> None:
    example = REPO / "examples" / "tdx" / "dcap-qvl-sample"
    quote = parse_quote((example / "quote.bin").read_bytes())
    collateral = load_dcap_qvl_collateral((example / "collateral.json").read_bytes())
    at = datetime.fromisoformat((example / "verify-at").read_text().strip().replace("Z", "+00:00"))
    request = TdxVerifyRequest(at=at, collateral=collateral)
    model = verify_tdx_quote(quote, request)
    plain = verify_tdx_quote(quote, dataclasses.replace(request, policy=DefaultTdxPolicy()))
    assert isinstance(request.policy, TdxPolicy)
    assert _outcome(model) == _outcome(plain)
