"""The simulated TDX provider: real DCAP quote v4 bytes and collateral, a persistent
Intel-shaped chain, and a verifier that accepts it only when its root is trusted explicitly."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cairn_agent.tee.base import ProviderError, TeeEvidence
from cairn_agent.tee.simulated_tdx import FMSPC, INTEL_QE_VENDOR_ID, SimulatedTdxProvider
from cairn_verifier.checks import Outcome, VerificationResult
from cairn_verifier.errors import ExitCode
from cairn_verifier.tdx.collateral import TdxCollateral, load_collateral_path
from cairn_verifier.tdx.pck import SGX_EXTENSIONS_OID, SgxExtensions
from cairn_verifier.tdx.quote import parse_quote
from cairn_verifier.tdx.tcb_info import TcbStatus
from cairn_verifier.tdx.verify import TdxVerifyRequest, verify_tdx_quote
from cairn_verifier.x509.cert import Certificate, load_certificates, parse_certificate
from cairn_verifier.x509.crl import load_crl

REPORT_DATA = bytes(range(64, 128))


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("agent-state")


@pytest.fixture(scope="module")
def provider(state_dir: Path) -> SimulatedTdxProvider:
    return SimulatedTdxProvider(state_dir)


@pytest.fixture(scope="module")
def evidence(provider: SimulatedTdxProvider) -> TeeEvidence:
    return provider.get_evidence(REPORT_DATA)


@pytest.fixture(scope="module")
def collateral(provider: SimulatedTdxProvider) -> TdxCollateral:
    return provider.collateral()


def _root(evidence: TeeEvidence) -> Certificate:
    return parse_certificate(evidence.certificates[-1])


def _verify(
    quote: bytes, evidence: TeeEvidence, collateral: TdxCollateral, *, trusted: bool
) -> VerificationResult:
    return verify_tdx_quote(
        parse_quote(quote),
        TdxVerifyRequest(
            at=datetime.now(UTC),
            collateral=collateral,
            report_data=REPORT_DATA,
            trusted_root=_root(evidence) if trusted else None,
        ),
    )


def _first_failure(result: VerificationResult) -> str:
    return next(c.name for c in result.checks if c.outcome is Outcome.FAIL)


def test_quote_is_a_v4_tdx_quote(provider: SimulatedTdxProvider, evidence: TeeEvidence) -> None:
    assert evidence.kind == "tdx-simulated" and evidence.simulated
    quote = parse_quote(evidence.report)
    assert quote.trailing == b""
    header, body = quote.header, quote.body
    assert (header.version, header.attestation_key_type, header.tee_type) == (4, 2, 0x81)
    assert header.qe_vendor_id == INTEL_QE_VENDOR_ID
    assert body.report_data == REPORT_DATA
    assert body.td_attributes.sept_ve_disable and not body.td_attributes.debug
    assert body.mr_td == provider.mr_td
    assert parse_quote(provider.quote(REPORT_DATA)).body.raw == body.raw  # deterministic body
    cert = quote.certification
    bound = hashlib.sha256(quote.attestation_key + cert.qe_auth_data).digest() + bytes(32)
    assert cert.qe_report.report_data == bound
    chain = load_certificates(cert.pck_cert_chain_pem)
    assert [c.subject.common_name for c in chain] == [
        "Intel SGX PCK Certificate",
        "Intel SGX PCK Platform CA",
        "Intel SGX Root CA",
    ]
    assert all("Cairn SIMULATED (not Intel)" in str(c.subject) for c in chain)
    sgx = SgxExtensions.parse(chain[0].extensions[SGX_EXTENSIONS_OID].value)
    assert sgx.fmspc == FMSPC and len(sgx.tcb_components) == 16
    assert sgx.platform_instance_id == provider.platform_instance_id


def test_collateral_is_current_and_signed_as_intel_does(
    provider: SimulatedTdxProvider, collateral: TdxCollateral
) -> None:
    now = datetime.now(UTC)
    tcb_info = collateral.tcb_info.parsed
    assert tcb_info.id == "TDX" and tcb_info.version == 3 and tcb_info.fmspc == FMSPC
    assert tcb_info.issue_date < now < tcb_info.next_update
    assert tcb_info.next_update - tcb_info.issue_date == timedelta(days=30)
    assert collateral.qe_identity.parsed.id == "TD_QE"
    assert collateral.root_ca_crl is not None and collateral.pck_crl is not None
    root_crl = load_crl(collateral.root_ca_crl)
    root_crl.verify_signed_by(parse_certificate(provider.trust_roots()[0].der))
    assert not root_crl.revoked and not load_crl(collateral.pck_crl).revoked


def test_verifies_up_to_date_when_the_root_is_trusted(
    evidence: TeeEvidence, collateral: TdxCollateral
) -> None:
    result = _verify(evidence.report, evidence, collateral, trusted=True)
    assert result.ok, [c for c in result.checks if c.outcome is Outcome.FAIL]
    assert result.claims["tcb_status"] == TcbStatus.UP_TO_DATE.value
    for name in ("root-ca-crl", "pck-crl", "tcb-info-signature", "qe-identity-signature"):
        assert next(c for c in result.checks if c.name == name).outcome is Outcome.PASS
    root_check = next(c for c in result.checks if c.name == "pck-root-pinned")
    assert "NOT an Intel key" in root_check.summary
    assert any("SIMULATED" in w for w in result.warnings)


def test_is_rejected_at_the_root_without_trust(
    evidence: TeeEvidence, collateral: TdxCollateral
) -> None:
    result = _verify(evidence.report, evidence, collateral, trusted=False)
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED
    assert _first_failure(result) == "pck-root-pinned"


@pytest.mark.parametrize(
    ("offset", "check"),
    [
        (48 + 520, "quote-signature"),  # REPORTDATA
        (48 + 136, "quote-signature"),  # MRTD
        (48 + 584 + 4 + 64 + 64 + 6 + 258, "qe-report-signature"),  # QE ISVSVN
        (48 + 584 + 4 + 64 + 64 + 6 + 384 + 64 + 2, "qe-report-binding"),  # QE auth data
    ],
)
def test_tampering_breaks_a_signature(
    evidence: TeeEvidence, collateral: TdxCollateral, offset: int, check: str
) -> None:
    tampered = bytearray(evidence.report)
    tampered[offset] ^= 0x01
    result = _verify(bytes(tampered), evidence, collateral, trusted=True)
    assert result.exit_code is ExitCode.SIGNATURE_INVALID
    assert _first_failure(result) == check


def test_state_persists_across_instances(
    state_dir: Path, provider: SimulatedTdxProvider, evidence: TeeEvidence
) -> None:
    again = SimulatedTdxProvider(state_dir)
    assert again.get_evidence(REPORT_DATA).certificates == evidence.certificates
    assert parse_quote(again.quote(REPORT_DATA)).attestation_key == (
        parse_quote(evidence.report).attestation_key
    )
    directory = provider.state.path
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert {stat.S_IMODE(k.stat().st_mode) for k in directory.glob("*.key")} == {0o600}


def test_exports_never_overwrite_and_load_in_the_verifier(
    provider: SimulatedTdxProvider, evidence: TeeEvidence, tmp_path: Path
) -> None:
    root, collateral_path = tmp_path / "root.pem", tmp_path / "collateral.json"
    provider.export_trust_root(root)
    provider.export_collateral(collateral_path)
    assert load_certificates(root.read_bytes()) == [_root(evidence)]
    assert set(json.loads(collateral_path.read_text())) == {
        "pck_crl_issuer_chain",
        "root_ca_crl",
        "pck_crl",
        "tcb_info_issuer_chain",
        "tcb_info",
        "tcb_info_signature",
        "qe_identity_issuer_chain",
        "qe_identity",
        "qe_identity_signature",
    }
    loaded = load_collateral_path(collateral_path)
    assert _verify(evidence.report, evidence, loaded, trusted=True).ok
    for path, export in (
        (root, provider.export_trust_root),
        (collateral_path, provider.export_collateral),
    ):
        before = path.read_bytes()
        with pytest.raises(ProviderError, match="refusing to overwrite"):
            export(path)
        assert path.read_bytes() == before


def test_short_report_data_is_a_provider_error(provider: SimulatedTdxProvider) -> None:
    with pytest.raises(ProviderError, match="64 bytes"):
        provider.get_evidence(bytes(63))
