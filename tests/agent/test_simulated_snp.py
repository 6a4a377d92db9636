"""The simulated SEV-SNP provider: real report bytes, a persistent AMD-shaped chain, and a
verifier that accepts it only when its ARK is trusted explicitly."""

from __future__ import annotations

import logging
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from cairn_agent.tee.base import ProviderError, TeeEvidence
from cairn_agent.tee.simulated_snp import GUEST_POLICY, SimulatedSnpProvider
from cairn_verifier.checks import Outcome, VerificationResult
from cairn_verifier.errors import ExitCode
from cairn_verifier.snp.certs import CertCollection
from cairn_verifier.snp.extensions import AmdExtensions
from cairn_verifier.snp.product import ProductLine
from cairn_verifier.snp.report import SigningKey, parse_report, reserved_ranges
from cairn_verifier.snp.verify import SnpVerifyRequest, verify_snp_report
from cairn_verifier.x509.cert import Certificate, parse_certificate

REPORT_DATA = bytes(range(64))


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("agent-state")


@pytest.fixture(scope="module")
def provider(state_dir: Path) -> SimulatedSnpProvider:
    return SimulatedSnpProvider(state_dir)


@pytest.fixture(scope="module")
def evidence(provider: SimulatedSnpProvider) -> TeeEvidence:
    return provider.get_evidence(REPORT_DATA)


def _chain(evidence: TeeEvidence) -> list[Certificate]:
    return [parse_certificate(der) for der in evidence.certificates]


def _verify(report: bytes, evidence: TeeEvidence, *, trusted: bool) -> VerificationResult:
    chain = _chain(evidence)
    return verify_snp_report(
        report,
        SnpVerifyRequest(
            at=datetime.now(UTC),
            certs=CertCollection.from_certificates(chain),
            report_data=REPORT_DATA,
            trusted_root=chain[2] if trusted else None,
        ),
    )


def _first_failure(result: VerificationResult) -> str:
    return next(c.name for c in result.checks if c.outcome is Outcome.FAIL)


def test_report_is_a_strictly_valid_v3_genoa_report(evidence: TeeEvidence) -> None:
    assert evidence.kind == "sev-snp-simulated" and evidence.simulated
    report = parse_report(evidence.report)
    assert len(evidence.report) == 1184
    assert report.version == 3
    assert report.product is ProductLine.GENOA
    assert (report.cpuid_fam_id, report.cpuid_mod_id, report.cpuid_step) == (0x19, 0x11, 1)
    assert report.policy.raw == GUEST_POLICY and not report.policy.debug and report.policy.smt
    assert report.vmpl == 0 and report.signature_algo == 1
    assert report.signing_key is SigningKey.VCEK and not report.mask_chip_id
    assert report.report_data == REPORT_DATA
    tcbs = {tcb.raw for tcb in report.tcbs().values()}
    assert len(tcbs) == 1  # current = reported = committed = launch
    for rng in reserved_ranges(report.version):
        assert not any(evidence.report[rng.start : rng.end]), rng.name


def test_chain_is_shaped_like_amds(provider: SimulatedSnpProvider, evidence: TeeEvidence) -> None:
    vcek, ask, ark = _chain(evidence)
    assert (vcek.subject.common_name, ask.subject.common_name) == ("SEV-VCEK", "SEV-Genoa")
    assert ark.subject.common_name == "ARK-Genoa"
    assert "Cairn SIMULATED (not AMD)" in str(ark.subject)
    for cert in (vcek, ask, ark):
        assert cert.signature_algorithm.is_rsa_pss_sha384_salt48
        assert cert.serial > 0
    ext = AmdExtensions.from_certificate(vcek)
    report = parse_report(evidence.report)
    assert ext.product_name == "Genoa"
    assert ext.hwid == provider.chip_id == report.chip_id
    assert ext.tcb_components() == report.reported_tcb.components()
    assert (ext.spl_4, ext.spl_5, ext.spl_6, ext.spl_7) == tuple(report.reported_tcb.reserved)


def test_verifies_when_the_simulated_ark_is_trusted(evidence: TeeEvidence) -> None:
    result = _verify(evidence.report, evidence, trusted=True)
    assert result.ok, [c for c in result.checks if c.outcome is Outcome.FAIL]
    ark = next(c for c in result.checks if c.name == "ark-pinned")
    assert "NOT an AMD key" in ark.summary
    assert any("SIMULATED" in w for w in result.warnings)
    assert result.claims["simulated"] is True


def test_is_rejected_at_the_root_without_trust(evidence: TeeEvidence) -> None:
    result = _verify(evidence.report, evidence, trusted=False)
    assert result.exit_code is ExitCode.CHAIN_UNTRUSTED
    assert _first_failure(result) == "ark-pinned"


@pytest.mark.parametrize("offset", [0x50, 0x90, 0x1A0, 0x2A0])
def test_tampering_breaks_the_signature(evidence: TeeEvidence, offset: int) -> None:
    tampered = bytearray(evidence.report)
    tampered[offset] ^= 0x01
    result = _verify(bytes(tampered), evidence, trusted=True)
    assert result.exit_code is ExitCode.SIGNATURE_INVALID
    assert _first_failure(result) == "report-signature"


def test_state_persists_across_instances(
    state_dir: Path, provider: SimulatedSnpProvider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        again = SimulatedSnpProvider(state_dir)
    assert "SIMULATED SEV-SNP: not hardware-backed" in caplog.text
    assert again.certificates() == provider.certificates()
    assert again.chip_id == provider.chip_id
    report = again.get_evidence(REPORT_DATA).report
    assert report[:0x2A0] == provider.get_evidence(REPORT_DATA).report[:0x2A0]
    directory = provider.state.path
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for key in directory.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_export_trust_root_never_overwrites(provider: SimulatedSnpProvider, tmp_path: Path) -> None:
    path = tmp_path / "ark.pem"
    provider.export_trust_root(path)
    exported = x509.load_pem_x509_certificate(path.read_bytes())
    assert exported == provider.ark
    with pytest.raises(ProviderError, match="refusing to overwrite"):
        provider.export_trust_root(path)
    assert x509.load_pem_x509_certificate(path.read_bytes()) == provider.ark


def test_inconsistent_state_is_refused(tmp_path: Path, state_dir: Path) -> None:
    source = state_dir / "simulated-snp-genoa"
    target = tmp_path / "simulated-snp-genoa"
    target.mkdir(mode=0o700)
    for item in source.iterdir():
        (target / item.name).write_bytes(item.read_bytes())
    (target / "vcek.key").unlink()  # a new VCEK key would not match the stored certificate
    with pytest.raises(ProviderError, match="does not certify"):
        SimulatedSnpProvider(tmp_path)


def test_bad_inputs_are_provider_errors(provider: SimulatedSnpProvider, tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="64 bytes"):
        provider.get_evidence(b"short")
    with pytest.raises(ProviderError, match="Turin"):
        SimulatedSnpProvider(tmp_path, product="Turin")
