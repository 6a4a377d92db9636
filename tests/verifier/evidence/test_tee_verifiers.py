"""The TEE verifier registry: every kind of the bundle format has one model and one verifier,
an unknown kind is malformed input (exit 10), and a verifier plugs in with one entry."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from cairn_verifier.binding.report_data import report_data_v1
from cairn_verifier.checks import CheckLog, Outcome, VerificationResult
from cairn_verifier.cli.main import main
from cairn_verifier.errors import ExitCode, MalformedInputError
from cairn_verifier.evidence.kinds import TEE_KINDS
from cairn_verifier.evidence.models import (
    TEE_MODELS,
    AnyTeeEvidence,
    EvidenceBundle,
    SevSnpEvidence,
    SimulatedSevSnpEvidence,
    SimulatedTdxEvidence,
    TdxEvidence,
    TeeEvidence,
    load_evidence,
    tee_evidence,
    tee_model,
)
from cairn_verifier.evidence.registry import Entry, Job, VerifierRegistry, entry
from cairn_verifier.evidence.tee_verifiers import TEE_VERIFIERS
from cairn_verifier.evidence.verify import EvidenceVerifyRequest, verify_evidence

BUNDLES = Path(__file__).resolve().parent / "bundles"


def _bundle(kind: str = "sev-snp") -> EvidenceBundle:
    return load_evidence((BUNDLES / f"{kind}.json").read_bytes())


def _request(bundle: EvidenceBundle) -> EvidenceVerifyRequest:
    return EvidenceVerifyRequest(nonce=bundle.claims.nonce, at=datetime.now(UTC))


def _check(result: VerificationResult, name: str) -> tuple[Outcome, ExitCode | None, str]:
    found = [c for c in result.checks if c.name == name]
    assert len(found) == 1, [c.name for c in result.checks]
    return found[0].outcome, found[0].category, found[0].summary


def _without(kind: str) -> VerifierRegistry:
    rows = [Entry(k, TEE_VERIFIERS.verifier_for(k)) for k in TEE_VERIFIERS.kinds if k != kind]
    return VerifierRegistry(*rows)


def test_every_kind_has_one_model_and_one_verifier() -> None:
    union = get_args(get_args(AnyTeeEvidence)[0])
    model_kinds = [model.model_fields["kind"].default for model in union]
    assert sorted(model_kinds) == sorted(TEE_KINDS)
    assert sorted(TEE_VERIFIERS.kinds) == sorted(TEE_KINDS)
    assert sorted(TEE_MODELS) == sorted(TEE_KINDS)


def test_what_a_kind_is_is_stated_on_its_model() -> None:
    """Platform, simulation and what reference values can check come from the model of the
    kind; nothing else compares kind strings."""
    facts = {
        kind: (model.platform.value, model.simulated, model.measures_command_line)
        for kind, model in TEE_MODELS.items()
    }
    assert facts == {
        "sev-snp": ("snp", False, True),
        "sev-snp-simulated": ("snp", True, True),
        "tdx": ("tdx", False, False),
        "tdx-simulated": ("tdx", True, False),
        "azure-sev-snp-vtpm": ("snp", False, False),
    }
    assert all(tee_model(kind) is TEE_MODELS[kind] for kind in TEE_KINDS)
    with pytest.raises(KeyError):
        tee_model("sgx")  # type: ignore[arg-type]


def test_an_unknown_kind_has_no_verifier() -> None:
    with pytest.raises(MalformedInputError) as raised:
        TEE_VERIFIERS.verifier_for("sgx")
    assert raised.value.exit_code is ExitCode.MALFORMED_INPUT
    assert raised.value.component == "TEE"
    assert "'sgx' has no verifier" in raised.value.message
    assert all(kind in raised.value.message for kind in TEE_KINDS)


def test_the_pipeline_refuses_a_kind_without_verifier_with_exit_10() -> None:
    bundle = _bundle()
    result = verify_evidence(bundle, _request(bundle), registry=_without("sev-snp"))
    outcome, category, summary = _check(result, "tee-kind")
    assert (outcome, category) == (Outcome.FAIL, ExitCode.MALFORMED_INPUT)
    assert "'sev-snp' has no verifier" in summary
    assert result.exit_code is ExitCode.MALFORMED_INPUT
    assert "report-data" not in {c.name for c in result.checks}
    assert "tee" not in result.claims


def test_a_kind_outside_the_format_is_refused_with_exit_10() -> None:
    bundle = _bundle()
    foreign = SevSnpEvidence.model_construct(kind="sgx", report=b"\x00", certificates=[])
    smuggled = bundle.model_copy(update={"tee": foreign})  # not validated: as a caller could
    result = verify_evidence(smuggled, _request(bundle))
    assert _check(result, "tee-kind")[:2] == (Outcome.FAIL, ExitCode.MALFORMED_INPUT)
    assert result.exit_code is ExitCode.MALFORMED_INPUT


def test_cli_refuses_an_unknown_kind_with_exit_10(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads((BUNDLES / "sev-snp.json").read_bytes())
    document["tee"]["kind"] = "sgx"
    path = tmp_path / "sgx.json"
    path.write_text(json.dumps(document))
    nonce = document["claims"]["nonce"]
    assert main(["verify", "evidence", str(path), "--nonce", nonce]) == 10
    assert "tee.kind" in capsys.readouterr().err


class _Recording:
    """A verifier for a new kind: gets its part, the expected REPORT_DATA and the request."""

    def __init__(self) -> None:
        self.seen: list[tuple[TeeEvidence, bytes, EvidenceVerifyRequest]] = []

    def verify(self, evidence: SevSnpEvidence, job: Job) -> VerificationResult:
        self.seen.append((evidence, job.report_data, job.request))
        job.log.passed("new-kind-ready", "TEE", "a check the verifier adds itself")
        job.warnings.append("NEW KIND: a warning before the result's")
        log = CheckLog()
        log.passed("report-data", "report", "the report carries the expected REPORT_DATA")
        return VerificationResult(
            kind="new kind",
            subject=job.request.subject,
            verified_at=job.request.at,
            checks=tuple(log.checks),
            claims={"measurement": "00"},
            warnings=("from the result",),
        )

    def check_unsigned(self, evidence: SevSnpEvidence, log: CheckLog) -> None:
        log.skipped("new-kind-attachments", "TEE", "nothing unsigned")


def test_a_verifier_plugs_in_with_one_entry() -> None:
    bundle = _bundle()
    request = _request(bundle)
    recording = _Recording()
    result = verify_evidence(
        bundle, request, registry=VerifierRegistry(entry(SevSnpEvidence, recording))
    )
    assert recording.seen == [(bundle.tee, report_data_v1(bundle.report_data_inputs()), request)]
    names = [c.name for c in result.checks]
    assert names.index("new-kind-ready") < names.index("report-data") < names.index("tpm-quote")
    assert names.index("tpm-quote") < names.index("new-kind-attachments")
    assert result.claims["tee"] == {"measurement": "00"}
    assert result.warnings[:2] == ("NEW KIND: a warning before the result's", "from the result")


def test_one_ak_digest_whether_the_ak_is_a_tpmt_or_a_tpm2b_public() -> None:
    """REPORT_DATA binds SHA-256 of the AK's TPMT_PUBLIC (docs/spec/report-data-v1.md). A bundle
    may carry the AK as a TPM2B_PUBLIC (size-prefixed), which the TPM quote check accepts; the
    digest the evidence pipeline expects and the claims ``cairn zk prove`` commits to
    (``report_data_inputs``) must be the same, or a proof would bind another key digest than
    the one verified (they differed: the claims hashed the bytes as sent)."""
    bare = _bundle("sev-snp-simulated")
    assert bare.tpm is not None
    tpmt = bare.tpm.ak_public
    tpm2b = len(tpmt).to_bytes(2, "big") + tpmt
    wrapped = bare.model_copy(update={"tpm": bare.tpm.model_copy(update={"ak_public": tpm2b})})
    expected = report_data_v1(bare.report_data_inputs())
    for bundle in (bare, wrapped):
        assert bundle.tpm is not None and bundle.tpm.ak_digest == hashlib.sha256(tpmt).digest()
        assert report_data_v1(bundle.report_data_inputs()) == expected
        recording = _Recording()
        registry = VerifierRegistry(entry(SimulatedSevSnpEvidence, recording))
        result = verify_evidence(bundle, _request(bundle), registry=registry)
        assert [report_data for _, report_data, _ in recording.seen] == [expected]
        for name in ("tpm-quote-signature", "tpm-attestation-key"):  # an accepted AK encoding
            assert _check(result, name)[0] is Outcome.PASS


def test_a_kind_is_registered_once() -> None:
    verifier = TEE_VERIFIERS.verifier_for("tdx")
    with pytest.raises(ValueError, match="two verifiers"):
        VerifierRegistry(entry(TdxEvidence, verifier), entry(TdxEvidence, verifier))


def test_the_built_in_verifiers_keep_their_behaviour() -> None:
    """Real evidence goes to its pipeline; simulated evidence without a named root and Azure's
    fail ``tee-kind`` with exit 3, as before the registry."""
    snp = _bundle("sev-snp")
    result = verify_evidence(snp, _request(snp))
    assert _check(result, "report-data")[0] is Outcome.FAIL  # foreign REPORT_DATA: the binding
    for kind in ("sev-snp-simulated", "tdx-simulated"):
        bundle = _bundle(kind)
        result = verify_evidence(bundle, _request(bundle))
        outcome, category, summary = _check(result, "tee-kind")
        assert (outcome, category) == (Outcome.FAIL, ExitCode.CHAIN_UNTRUSTED), kind
        assert "no simulated root is trusted" in summary
        assert result.warnings[0].startswith("SIMULATED EVIDENCE")
    azure = _bundle("azure-sev-snp-vtpm")
    job = Job(b"\x00" * 64, _request(azure), CheckLog(), [])
    assert TEE_VERIFIERS.verifier_for(azure.tee.kind).verify(azure.tee, job) is None
    [check] = job.log.checks
    assert (check.name, check.outcome, check.category) == (
        "tee-kind",
        Outcome.FAIL,
        ExitCode.CHAIN_UNTRUSTED,
    )
    assert "not verifiable by this version of Cairn" in check.summary


def test_tee_evidence_builds_the_model_of_its_kind() -> None:
    tdx = tee_evidence("tdx-simulated", b"quote", collateral=b"{}")
    assert type(tdx) is SimulatedTdxEvidence and tdx.simulated and tdx.collateral == b"{}"
    snp = tee_evidence("sev-snp", b"report", [])
    assert type(snp) is SevSnpEvidence and not snp.simulated
    with pytest.raises(ValidationError, match="collateral is defined for TDX quotes only"):
        tee_evidence("sev-snp", b"report", collateral=b"{}")


def test_a_bundle_validates_tee_evidence_as_its_kinds_model() -> None:
    """Python-built or copied evidence gets no way around a kind's rules."""
    bundle = _bundle()
    plain = TeeEvidence(kind="sev-snp", report=b"report", collateral=b"{}")
    with pytest.raises(ValidationError, match="collateral is defined for TDX quotes only"):
        EvidenceBundle.model_validate(dict(bundle) | {"tee": plain})
    copied = bundle.tee.model_copy(update={"kind": "tdx"})
    rebuilt = EvidenceBundle.model_validate(dict(bundle) | {"tee": copied})
    assert type(rebuilt.tee) is TdxEvidence
