"""Every certificate of every TDX chain must be valid at the verification time (issue 11 item 2).

Two sources of truth: real quotes from tests/vectors/tdx verified before and after their
certificates' validity, and the agent's simulated TDX platform (real DCAP quote and collateral
formats, its own CA) whose certificates are re-issued with a validity window that excludes now.
Before the fix a not-yet-valid or expired PCK verified with exit 0. dcap-qvl 0.7.0 (with the
simulated root as its root CA) is the oracle: it rejects every one of these except an expired or
not-yet-valid root, whose dates it never checks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dcap_qvl  # type: ignore[import-untyped]
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tdx_vectors import QVL_20, QVL_B0, load_quote, qvl_collateral, tdx_dir

from cairn_agent.tee.simulated_ca import certificate_der
from cairn_agent.tee.simulated_tdx import SimulatedTdxProvider
from cairn_verifier.checks import Check, Outcome, VerificationResult
from cairn_verifier.errors import ExitCode
from cairn_verifier.tdx.collateral import TdxCollateral
from cairn_verifier.tdx.quote import parse_quote
from cairn_verifier.tdx.verify import TdxVerifyRequest, verify_tdx_quote
from cairn_verifier.x509.cert import parse_certificate

NEAR = "dcap-qvl/near-gas-test/quote_hex.txt"  # PCK valid 2025-07-31T07:28:39Z .. 2032-07-31
SAMPLE = "dcap-qvl/sample/tdx_quote"  # PCK valid 2025-02-06T23:25:51Z .. 2032-02-06T23:25:51Z


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _validity(result: VerificationResult) -> dict[str, Check]:
    return {c.component: c for c in result.checks if c.name == "validity"}


def _failed(result: VerificationResult) -> list[tuple[str, str]]:
    return [(c.name, c.component) for c in result.checks if c.outcome is Outcome.FAIL]


def _dcap_qvl_rejects(raw: bytes, collateral_json: str, at: datetime, root: bytes | None) -> str:
    """dcap-qvl's error for this quote at ``at`` (the test fails if dcap-qvl accepts it)."""
    collateral = dcap_qvl.QuoteCollateralV3.from_json(collateral_json)
    now = int(at.timestamp())
    with pytest.raises(ValueError) as error:
        if root is None:
            dcap_qvl.verify(raw, collateral, now)
        else:
            dcap_qvl.verify_with_root_ca(raw, collateral, root, now)
    return str(error.value)


# --------------------------------------------------------------------------- real vectors


def test_every_certificate_of_a_real_quote_is_checked_at_the_pinned_time(testdata: Path) -> None:
    quote = load_quote(testdata, SAMPLE)
    request = TdxVerifyRequest(
        at=_at("2025-06-19T10:32:27Z"), collateral=qvl_collateral(testdata, QVL_B0)
    )
    result = verify_tdx_quote(quote, request)
    assert result.exit_code is ExitCode.OK, result.to_json()
    validity = _validity(result)
    assert set(validity) == {
        "Intel SGX PCK Certificate",
        "Intel SGX PCK Platform CA",
        "Intel SGX Root CA",
        "Intel SGX TCB Signing",
    }
    assert all(c.outcome is Outcome.PASS for c in validity.values())
    assert any(
        c.name == "pck-crl-issuer-chain" and c.outcome is Outcome.PASS for c in result.checks
    )


@pytest.mark.parametrize(
    ("quote_rel", "collateral_rel", "moment", "why"),
    [
        (NEAR, QVL_20, "2025-07-31T07:00:00Z", "is not yet valid until 2025-07-31T07:28:39"),
        (SAMPLE, QVL_B0, "2032-02-07T00:00:00Z", "expired on 2032-02-06T23:25:51"),
    ],
    ids=["pck-not-yet-valid", "pck-expired"],
)
def test_a_real_pck_outside_its_validity_is_rejected(
    testdata: Path, quote_rel: str, collateral_rel: str, moment: str, why: str
) -> None:
    quote = load_quote(testdata, quote_rel)
    collateral = qvl_collateral(testdata, collateral_rel)
    at = _at(moment)
    result = verify_tdx_quote(quote, TdxVerifyRequest(at=at, collateral=collateral))
    pck = _validity(result)["Intel SGX PCK Certificate"]
    assert pck.outcome is Outcome.FAIL and why in pck.summary
    assert _failed(result)[0] == ("validity", "Intel SGX PCK Certificate")
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED
    # The stale collateral at that time is listed too, not hidden behind the first failure.
    assert ("tcb-info-current", "TCB info") in _failed(result)
    _dcap_qvl_rejects(quote.raw, (tdx_dir(testdata) / collateral_rel).read_text(), at, None)


# --------------------------------------------------------------------------- simulated platform


@dataclass(frozen=True)
class Reissue:
    """Which certificate of the simulated platform to re-issue, and who signs it."""

    certificate: str
    issuer_key: str
    component: str


REISSUES = [
    Reissue("pck.pem", "pck_platform_ca.key", "Intel SGX PCK Certificate"),
    Reissue("pck_platform_ca.pem", "root_ca.key", "Intel SGX PCK Platform CA"),
    Reissue("tcb_signing.pem", "root_ca.key", "Intel SGX TCB Signing"),
    Reissue("root_ca.pem", "root_ca.key", "Intel SGX Root CA"),
]
WINDOWS: dict[str, Callable[[datetime], tuple[datetime, datetime]]] = {
    "not-yet-valid": lambda now: (now + timedelta(days=1), now + timedelta(days=700)),
    "expired": lambda now: (now - timedelta(days=700), now - timedelta(days=1)),
}


def _reissue(state: Path, spec: Reissue, not_before: datetime, not_after: datetime) -> None:
    """Replace one stored certificate by the same certificate with another validity window."""
    path = state / spec.certificate
    old = x509.load_pem_x509_certificate(path.read_bytes())
    key = serialization.load_pem_private_key((state / spec.issuer_key).read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(old.issuer)
        .public_key(old.public_key())
        .serial_number(old.serial_number)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension in old.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    new = builder.sign(key, hashes.SHA256())
    path.write_bytes(new.public_bytes(serialization.Encoding.PEM))


@pytest.mark.parametrize("window", sorted(WINDOWS))
@pytest.mark.parametrize("spec", REISSUES, ids=[r.certificate for r in REISSUES])
def test_a_simulated_certificate_outside_its_validity_is_rejected(
    tmp_path: Path, spec: Reissue, window: str
) -> None:
    SimulatedTdxProvider(tmp_path)  # creates the keys and certificates
    now = datetime.now(UTC).replace(microsecond=0)
    _reissue(tmp_path / "simulated-tdx", spec, *WINDOWS[window](now))
    provider = SimulatedTdxProvider(tmp_path)
    evidence = provider.get_evidence(bytes(64))
    root = parse_certificate(certificate_der(provider.root))
    request = TdxVerifyRequest(at=now, collateral=provider.collateral(), trusted_root=root)
    result = verify_tdx_quote(parse_quote(evidence.report), request)

    check = _validity(result)[spec.component]
    assert check.outcome is Outcome.FAIL
    assert ("expired on" if window == "expired" else "is not yet valid") in check.summary
    assert check.category is ExitCode.CHAIN_UNTRUSTED
    assert [name for name, _ in _failed(result)] == ["validity"]
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED
    # Everything after it was still evaluated (item 13: one run lists every problem).
    assert any(c.name == "tcb-status" and c.outcome is Outcome.PASS for c in result.checks)

    collateral_json = json.dumps(provider.collateral_document())
    root_der = certificate_der(provider.root)
    if spec.certificate == "root_ca.pem":
        # dcap-qvl (webpki) treats its root CA as a trust anchor and never checks its dates;
        # Cairn checks the root like every other certificate, as Intel's QVL does.
        collateral = dcap_qvl.QuoteCollateralV3.from_json(collateral_json)
        verified = dcap_qvl.verify_with_root_ca(
            evidence.report, collateral, root_der, int(now.timestamp())
        )
        assert verified.status == "UpToDate"
    else:
        _dcap_qvl_rejects(evidence.report, collateral_json, now, root_der)


def test_the_untouched_simulated_platform_verifies(tmp_path: Path) -> None:
    provider = SimulatedTdxProvider(tmp_path)
    evidence = provider.get_evidence(bytes(64))
    root = parse_certificate(certificate_der(provider.root))
    collateral: TdxCollateral = provider.collateral()
    now = datetime.now(UTC)
    request = TdxVerifyRequest(at=now, collateral=collateral, trusted_root=root)
    result = verify_tdx_quote(parse_quote(evidence.report), request)
    assert result.exit_code is ExitCode.OK, result.to_json()
    report = dcap_qvl.verify_with_root_ca(
        evidence.report,
        dcap_qvl.QuoteCollateralV3.from_json(json.dumps(provider.collateral_document())),
        certificate_der(provider.root),
        int(now.timestamp()),
    )
    assert report.status == "UpToDate"
