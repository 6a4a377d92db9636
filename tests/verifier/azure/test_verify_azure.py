"""The Azure pipeline on real Azure evidence (trustee's SEV-SNP Milan ×3, Genoa, TDX): every
vector verifies end to end at its pinned time (TDX up to Intel collateral, which no vector set
here has for its FMSPC), and every link broken fails with its check and exit code."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from azure_vectors import AzureVector, read, request, vectors

from cairn_verifier.azure.hcl import RUNTIME_DATA_OFFSET, parse_hcl_report
from cairn_verifier.azure.policy import AzurePolicy
from cairn_verifier.azure.verify import AzureEvidence, VtpmQuote, verify_azure
from cairn_verifier.checks import Outcome, VerificationResult
from cairn_verifier.errors import ExitCode
from cairn_verifier.evidence.policy import EvidencePolicy
from cairn_verifier.policy_document import CairnPolicy
from cairn_verifier.tdx.policy import TdxPolicy

VECTORS = vectors(Path(__file__).resolve().parents[2] / "vectors")
SNP = [v for v in VECTORS if v.platform == "SEV-SNP"]
TDX = next(v for v in VECTORS if v.platform == "TDX")


def _verify(testdata: Path, vector: AzureVector, **changes: object) -> VerificationResult:
    evidence = read(testdata, vector).evidence
    return verify_azure(evidence, request(vector, **changes))


def _outcome(result: VerificationResult, name: str) -> tuple[Outcome, ExitCode | None]:
    found = [c for c in result.checks if c.name == name]
    assert len(found) == 1, [c.name for c in result.checks]
    return found[0].outcome, found[0].category


def _first_failure(result: VerificationResult) -> tuple[str, ExitCode | None]:
    failed = next(c for c in result.checks if c.outcome is Outcome.FAIL)
    return failed.name, failed.category


@pytest.mark.parametrize("vector", SNP, ids=lambda v: v.name)
def test_every_real_snp_vector_verifies_end_to_end(testdata: Path, vector: AzureVector) -> None:
    result = _verify(testdata, vector)
    assert result.ok, [c for c in result.checks if c.outcome is Outcome.FAIL]
    assert result.kind == "Azure confidential VM (SEV-SNP, vTPM)"
    passed = {c.name for c in result.checks if c.outcome is Outcome.PASS}
    assert {
        "azure-hcl-report",
        "azure-runtime-data",
        "report-signature",
        "report-data",
        "azure-vmpl",
        "tpm-quote-signature",
        "tpm-quote-nonce",
        "tpm-pcr-digest",
        "azure-secure-boot",
        "azure-tpm-enabled",
        "azure-console",
    } <= passed
    # trustee's evidence carries no TPMT_PUBLIC: the quote is checked with HCLAkPub itself
    assert _outcome(result, "azure-ak")[0] is Outcome.SKIP
    assert _outcome(result, "tpm-attestation-key")[0] is Outcome.SKIP
    assert len(result.claims["vtpm"]["pcrs"]) == 24
    assert result.claims["runtime_data"]["ak"]["kid"] == "HCLAkPub"


def test_the_real_tdx_vector_verifies_up_to_intel_collateral(testdata: Path) -> None:
    """Everything but the TCB status: Intel's collateral for FMSPC 00806F050000 is not among the
    collateral sets of tests/vectors/tdx, so offline the pipeline fails `collateral` (exit 5)
    and nothing else."""
    result = _verify(testdata, TDX)
    failed = [(c.name, c.category) for c in result.checks if c.outcome is Outcome.FAIL]
    assert failed == [("collateral", ExitCode.COLLATERAL_UNAVAILABLE)]
    assert result.kind == "Azure confidential VM (TDX, vTPM)"
    assert result.claims["tdx"]["fmspc"] == "00806f050000"
    passed = {c.name for c in result.checks if c.outcome is Outcome.PASS}
    assert {
        "azure-td-quote",
        "pck-root-pinned",
        "qe-report-signature",
        "quote-signature",
        "report-data",
        "azure-td-report",
        "tpm-quote-signature",
        "tpm-quote-nonce",
        "tpm-pcr-digest",
    } <= passed
    assert result.claims["vtpm"]["pcrs"]["sha256:0"] == (
        "782b20b10f55cc46e2142cc2145d548698073e5beb82752c8d7f9279f0d8a273"
    )


def test_the_default_policy_refuses_the_serial_console_and_tdx_without_sept_ve_disable(
    testdata: Path,
) -> None:
    snp = _verify(testdata, SNP[0], policy=CairnPolicy())
    assert _first_failure(snp) == ("azure-console", ExitCode.POLICY_REJECTED)
    tdx = _verify(testdata, TDX, policy=CairnPolicy(azure=AzurePolicy(allow_console=True)))
    assert _outcome(tdx, "sept-ve-disable") == (Outcome.FAIL, ExitCode.POLICY_REJECTED)


# --- each link broken --------------------------------------------------------------------------


def _with_hcl(testdata: Path, vector: AzureVector, change: int, xor: int = 1) -> AzureEvidence:
    evidence = read(testdata, vector).evidence
    hcl = bytearray(evidence.hcl_report)
    hcl[change] ^= xor
    return replace(evidence, hcl_report=bytes(hcl))


@pytest.mark.parametrize("vector", [SNP[0], TDX], ids=lambda v: v.name)
def test_a_changed_runtime_data_byte_breaks_report_data(
    testdata: Path, vector: AzureVector
) -> None:
    """One byte of the runtime data changed (the first digit of vmUniqueId: still valid JSON
    of the same shape): REPORT_DATA no longer commits to it (exit 1)."""
    raw = read(testdata, vector).evidence.hcl_report
    offset = raw.index(b'"vmUniqueId":"') + len('"vmUniqueId":"')
    evidence = _with_hcl(testdata, vector, offset)
    result = verify_azure(evidence, request(vector))
    assert _outcome(result, "azure-runtime-data")[0] is Outcome.PASS
    assert _outcome(result, "report-data") == (Outcome.FAIL, ExitCode.CONTENT_MISMATCH)
    first = ("collateral", ExitCode.COLLATERAL_UNAVAILABLE) if vector is TDX else None
    assert _first_failure(result) == (first or ("report-data", ExitCode.CONTENT_MISMATCH))


@pytest.mark.parametrize("vector", [SNP[0], TDX], ids=lambda v: v.name)
def test_a_swapped_hcl_ak_breaks_report_data(testdata: Path, vector: AzureVector) -> None:
    """HCLAkPub replaced by another key in the runtime data: still a valid RSA JWK, but not the
    one the hardware report binds (report-data, exit 1); the quote then does not verify with it
    either (exit 2, later)."""
    evidence = read(testdata, vector).evidence
    hcl = parse_hcl_report(evidence.hcl_report)
    start = hcl.runtime_data.index(b'"n":"') + 5 + 100  # inside the modulus: same size
    original = hcl.runtime_data[start : start + 8]
    other = b"".join(b"A" if c != ord("A") else b"B" for c in original)  # still base64url
    swapped = evidence.hcl_report.replace(original, other, 1)
    assert swapped.index(other) == RUNTIME_DATA_OFFSET + start
    result = verify_azure(replace(evidence, hcl_report=swapped), request(vector))
    assert _outcome(result, "azure-runtime-data")[0] is Outcome.PASS
    assert _outcome(result, "report-data") == (Outcome.FAIL, ExitCode.CONTENT_MISMATCH)
    assert _outcome(result, "tpm-quote-signature") == (Outcome.FAIL, ExitCode.SIGNATURE_INVALID)


def test_a_quote_from_another_ak_fails_its_signature(testdata: Path) -> None:
    """The genuine v1 HCL report with the vTPM quote of another VM (Genoa): signed, but not by
    this report's HCLAkPub (exit 2)."""
    milan, genoa = read(testdata, SNP[1]).evidence, read(testdata, SNP[3]).evidence
    evidence = replace(milan, vtpm_quote=genoa.vtpm_quote)
    result = verify_azure(evidence, request(SNP[1], nonce=SNP[3].nonce))
    assert _first_failure(result) == ("tpm-quote-signature", ExitCode.SIGNATURE_INVALID)
    assert _outcome(result, "report-data")[0] is Outcome.PASS
    assert _outcome(result, "tpm-quote-nonce")[0] is Outcome.SKIP  # nothing unsigned is read


@pytest.mark.parametrize("vector", [SNP[0], SNP[3], TDX], ids=lambda v: v.name)
def test_a_wrong_nonce_fails_the_quote_nonce(testdata: Path, vector: AzureVector) -> None:
    result = _verify(testdata, vector, nonce=b"challengf")
    assert _outcome(result, "tpm-quote-nonce") == (Outcome.FAIL, ExitCode.CONTENT_MISMATCH)
    assert _outcome(result, "tpm-quote-signature")[0] is Outcome.PASS


def test_without_a_nonce_freshness_is_skipped_and_said(testdata: Path) -> None:
    result = _verify(testdata, SNP[0], nonce=None)
    assert result.ok
    outcome, _ = _outcome(result, "tpm-quote-nonce")
    assert outcome is Outcome.SKIP
    [check] = [c for c in result.checks if c.name == "tpm-quote-nonce"]
    assert "freshness is not proven" in check.summary
    assert "6368616c6c656e6765" in check.summary  # the quote's own extraData, shown


def test_a_changed_pcr_value_fails_the_pcr_digest(testdata: Path) -> None:
    evidence = read(testdata, TDX).evidence
    assert evidence.vtpm_quote is not None
    pcrs = dict(evidence.vtpm_quote.pcrs)
    pcrs[("sha256", 0)] = bytes(32)
    quote = VtpmQuote(evidence.vtpm_quote.attest, evidence.vtpm_quote.signature, pcrs)
    result = verify_azure(replace(evidence, vtpm_quote=quote), request(TDX))
    assert _outcome(result, "tpm-pcr-digest") == (Outcome.FAIL, ExitCode.CONTENT_MISMATCH)


def test_a_td_report_that_is_not_the_quote_body_fails(testdata: Path) -> None:
    """RTMR3 of the HCL's TD report changed, and TEE_INFO_HASH recomputed so that the report is
    consistent in itself: it is still not the report the quote was made from (exit 1)."""
    evidence = read(testdata, TDX).evidence
    hcl = bytearray(evidence.hcl_report)
    tdinfo = 0x20 + 512
    hcl[tdinfo + 16 + 48 * 4 + 48 * 3] ^= 0xFF  # RTMR3, byte 0
    hcl[0x20 + 80 : 0x20 + 128] = hashlib.sha384(bytes(hcl[tdinfo : tdinfo + 512])).digest()
    result = verify_azure(replace(evidence, hcl_report=bytes(hcl)), request(TDX))
    [check] = [c for c in result.checks if c.name == "azure-td-report"]
    assert (check.outcome, check.category) == (Outcome.FAIL, ExitCode.CONTENT_MISMATCH)
    assert "RTMR3" in check.summary and "hashes" not in check.summary
    assert _outcome(result, "report-data")[0] is Outcome.PASS  # the runtime data is untouched


def test_a_td_report_whose_own_hash_is_wrong_fails(testdata: Path) -> None:
    evidence = _with_hcl(testdata, TDX, 0x20 + 80)  # TEE_INFO_HASH, byte 0
    result = verify_azure(evidence, request(TDX))
    [check] = [c for c in result.checks if c.name == "azure-td-report"]
    assert (check.outcome, check.category) == (Outcome.FAIL, ExitCode.CONTENT_MISMATCH)
    assert "TEE_INFO_HASH is not SHA-384 of TDINFO" in check.summary


def test_a_td_quote_that_is_not_the_hcl_reports_is_named(testdata: Path) -> None:
    """The TDX HCL report with another TD quote (a real one of another TD): the quote verifies,
    but neither its REPORTDATA nor its body is this HCL report's."""
    evidence = read(testdata, TDX).evidence
    other = (testdata / "tdx/dcap-qvl/sample/tdx_quote").read_bytes()
    result = verify_azure(replace(evidence, td_quote=other), request(TDX))
    assert _outcome(result, "quote-signature")[0] is Outcome.PASS
    assert _outcome(result, "report-data") == (Outcome.FAIL, ExitCode.CONTENT_MISMATCH)
    assert _outcome(result, "azure-td-report") == (Outcome.FAIL, ExitCode.CONTENT_MISMATCH)


def test_without_the_td_quote_nothing_hardware_signs_the_tdx_report(testdata: Path) -> None:
    evidence = replace(read(testdata, TDX).evidence, td_quote=None)
    result = verify_azure(evidence, request(TDX))
    assert _first_failure(result) == ("azure-td-quote", ExitCode.MALFORMED_INPUT)
    assert not any(c.name == "report-data" for c in result.checks)


def test_an_unreadable_hcl_report_stops_with_exit_10(testdata: Path) -> None:
    evidence = _with_hcl(testdata, SNP[0], 0)  # the magic
    result = verify_azure(evidence, request(SNP[0]))
    assert [(c.name, c.category) for c in result.checks] == [
        ("azure-hcl-report", ExitCode.MALFORMED_INPUT)
    ]
    assert result.kind == "Azure confidential VM (vTPM)"


def test_unreadable_runtime_data_fails_and_the_hardware_is_still_checked(testdata: Path) -> None:
    raw = read(testdata, SNP[0]).evidence.hcl_report
    evidence = _with_hcl(testdata, SNP[0], raw.index(b'{"keys"'), ord("{") ^ ord("["))
    result = verify_azure(evidence, request(SNP[0]))
    assert _first_failure(result) == ("azure-runtime-data", ExitCode.MALFORMED_INPUT)
    assert _outcome(result, "report-signature")[0] is Outcome.PASS
    assert _outcome(result, "azure-ak")[0] is Outcome.SKIP
    assert _outcome(result, "tpm-quote-signature")[0] is Outcome.SKIP


# --- the [azure] policy and PCR pins ----------------------------------------------------------


def test_policy_pins_on_the_vm_configuration(testdata: Path) -> None:
    vector = SNP[1]
    accepted = AzurePolicy(
        allow_console=True,
        vm_unique_ids=("26f8bc30-774e-4290-8e7a-535f3b672aee",),  # any case
        user_data=bytes(64),
    )
    result = _verify(testdata, vector, policy=CairnPolicy(azure=accepted))
    assert result.ok
    assert _outcome(result, "azure-vm-id")[0] is Outcome.PASS
    assert _outcome(result, "azure-user-data")[0] is Outcome.PASS
    other_vm = accepted.model_copy(
        update={"vm_unique_ids": ("00000000-0000-0000-0000-000000000000",)}
    )
    result = _verify(testdata, vector, policy=CairnPolicy(azure=other_vm))
    assert _first_failure(result) == ("azure-vm-id", ExitCode.POLICY_REJECTED)
    persisted = accepted.model_copy(update={"tpm_persisted": True})  # v1 does not state it
    result = _verify(testdata, vector, policy=CairnPolicy(azure=persisted))
    assert _first_failure(result) == ("azure-tpm-persisted", ExitCode.POLICY_REJECTED)


def test_secure_boot_can_be_waived_and_is_then_said_not_checked(testdata: Path) -> None:
    waived = AzurePolicy(allow_console=True, require_secure_boot=False)
    result = _verify(testdata, SNP[0], policy=CairnPolicy(azure=waived))
    assert _outcome(result, "azure-secure-boot") == (Outcome.SKIP, None)


def test_pcr_pins_are_compared_with_the_quoted_values(testdata: Path) -> None:
    pcr0 = bytes.fromhex("782b20b10f55cc46e2142cc2145d548698073e5beb82752c8d7f9279f0d8a273")
    pins = {"sha256": {0: pcr0}}
    tdx = CairnPolicy(
        azure=AzurePolicy(allow_console=True),
        tdx=TdxPolicy(require_sept_ve_disable=False),
        evidence=EvidencePolicy(pcrs=pins),
    )
    result = _verify(testdata, TDX, policy=tdx)
    assert _outcome(result, "pcr-sha256-0")[0] is Outcome.PASS
    wrong = tdx.model_copy(update={"evidence": EvidencePolicy(pcrs={"sha256": {0: bytes(32)}})})
    result = _verify(testdata, TDX, policy=wrong)
    assert _outcome(result, "pcr-sha256-0") == (Outcome.FAIL, ExitCode.CONTENT_MISMATCH)


def test_a_report_not_requested_at_vmpl_0_is_not_the_paravisors() -> None:
    """An SEV-SNP report from VMPL 2 (the guest's level on Azure) carries whatever REPORT_DATA
    the guest chose: a guest could bind its own key. Only VMPL 0 is the paravisor's."""
    from azure_simulated import snp_hcl_evidence

    evidence, root, at = snp_hcl_evidence(vmpl=2)
    result = verify_azure(evidence, _simulated_request(root, at))
    assert _outcome(result, "report-data")[0] is Outcome.PASS
    assert _outcome(result, "azure-vmpl") == (Outcome.FAIL, ExitCode.CHAIN_UNTRUSTED)
    evidence, root, at = snp_hcl_evidence(vmpl=0)
    result = verify_azure(evidence, _simulated_request(root, at))
    assert _outcome(result, "azure-vmpl")[0] is Outcome.PASS


def _simulated_request(root: object, at: object) -> object:
    from cairn_verifier.azure.verify import AzureVerifyRequest

    return AzureVerifyRequest(at=at, trusted_root=root, nonce=bytes(32))  # type: ignore[arg-type]


def test_a_bare_rsa_signature_is_read_as_rsassa_sha256(testdata: Path) -> None:
    """trustee's quote carries the 256 signature bytes without their TPMT_SIGNATURE header."""
    quote = read(testdata, SNP[0]).evidence.vtpm_quote
    assert quote is not None
    assert quote.signature[:6] == struct.pack(">HHH", 0x0014, 0x000B, 256)
