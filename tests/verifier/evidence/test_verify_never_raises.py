"""``verify_evidence`` never raises on bad evidence: over mutated real bundles (the committed
bundles of every kind: cairn-agent's simulated SEV-SNP and TDX evidence with its swtpm quote,
real SEV-SNP and TDX reports, real Azure evidence from trustee) it returns a result, and a
bundle whose parts cannot be read fails a named check with exit 10 instead of raising."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cairn_verifier.checks import Outcome, VerificationResult
from cairn_verifier.errors import ExitCode, MalformedInputError
from cairn_verifier.evidence.models import EvidenceBundle, dump_evidence, load_evidence
from cairn_verifier.evidence.tee_verifiers import TEE_VERIFIERS
from cairn_verifier.evidence.verify import EvidenceVerifyRequest, verify_evidence
from cairn_verifier.x509.cert import Certificate

BUNDLES = {
    path.stem if path.parent.name == "bundles" else f"{path.stem}-{path.parent.name}": (
        path.read_bytes()
    )
    for path in sorted((Path(__file__).resolve().parent / "bundles").glob("**/*.json"))
}
TRUSTEE = Path(__file__).resolve().parents[2] / "vectors" / "snp" / "trustee"


def _chain(bundle: EvidenceBundle) -> list[Certificate]:
    """The certificates the bundle's TEE evidence chains with, as its kind's verifier reads
    them (a simulated kind's verifier wraps the real one)."""
    verifier = TEE_VERIFIERS.verifier_for(bundle.tee.kind)
    chain: list[Certificate] = getattr(verifier, "real", verifier).chain(bundle.tee)
    return chain


def _request(original: EvidenceBundle) -> EvidenceVerifyRequest:
    """The verifier the bundle was made for: its nonce, a time its chain is valid at, and the
    simulated root its chain ends in (so that mutations reach the whole pipeline)."""
    chain = _chain(original)
    at = max((cert.not_before for cert in chain), default=datetime.now(UTC)) + timedelta(hours=1)
    roots = (chain[-1],) if original.tee.simulated and chain else ()
    return EvidenceVerifyRequest(nonce=original.claims.nonce, at=at, simulated_roots=roots)


def _verify(document: dict[str, Any], original: EvidenceBundle) -> VerificationResult | None:
    try:
        bundle = load_evidence(json.dumps(document).encode())
    except MalformedInputError:
        return None  # refused when read, before verification: not what this test is about
    result = verify_evidence(bundle, _request(original))
    assert isinstance(result, VerificationResult)
    assert not result.ok or all(c.outcome is not Outcome.FAIL for c in result.checks)
    return result


def _byte_fields(document: dict[str, Any]) -> list[tuple[str, ...]]:
    """Paths of the base64 members that hold evidence bytes."""
    paths: list[tuple[str, ...]] = [("tee", "report")]
    paths += [("tee", "certificates", str(i)) for i in range(len(document["tee"]["certificates"]))]
    if document["tee"].get("collateral"):
        paths.append(("tee", "collateral"))
    if document["tee"].get("event_log"):
        paths.append(("tee", "event_log"))
    if document["tpm"] is not None:
        paths += [("tpm", "quote"), ("tpm", "signature"), ("tpm", "ak_public")]
    return paths


def _get(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = document
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _set(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    parent = _get(document, path[:-1])
    if isinstance(parent, list):
        parent[int(path[-1])] = value
    else:
        parent[path[-1]] = value


@st.composite
def _mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """One to three byte-level mutations of ``data``: flips, truncation, insertion, deletion,
    a run overwritten with interesting bytes."""
    mutated = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        size = len(mutated)
        at = draw(st.integers(0, max(size - 1, 0)))
        operation = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite"]))
        if operation == "flip" and size:
            mutated[at] ^= 1 << draw(st.integers(0, 7))
        elif operation == "truncate":
            del mutated[at:]
        elif operation == "insert":
            mutated[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif operation == "delete":
            del mutated[at : at + draw(st.integers(1, 16))]
        else:
            fill = draw(st.sampled_from([b"\x00", b"\xff", b"\x7f", b"\x80"]))
            mutated[at : at + 4] = fill * 4
    return bytes(mutated)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(st.data())
def test_verify_evidence_returns_a_result_for_any_mutated_bundle(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(BUNDLES)), label="bundle")
    original = load_evidence(BUNDLES[name])
    document = json.loads(dump_evidence(original))
    for path in data.draw(
        st.lists(st.sampled_from(_byte_fields(document)), min_size=1, max_size=2, unique=True),
        label="fields",
    ):
        raw = base64.b64decode(_get(document, path))
        _set(document, path, base64.b64encode(data.draw(_mutation(raw))).decode())
    assume(_verify(document, original) is not None)


def _check(result: VerificationResult, name: str) -> tuple[Outcome, ExitCode | None, str]:
    [check] = [c for c in result.checks if c.name == name]
    return check.outcome, check.category, check.summary


def test_the_azure_vector_with_its_unreadable_tpm_signature_fails_a_check() -> None:
    """trustee's Azure evidence (the committed azure-sev-snp-vtpm bundle carries its quote)
    holds the quote's signature in a form that is no TPMT_SIGNATURE: ``tpm-quote`` fails with
    exit 10 (it raised a ParseError before), and the rest of the bundle is checked."""
    upstream = json.loads((TRUSTEE / "az-snp-vtpm_evidence-genoa.json").read_text())
    original = load_evidence(BUNDLES["azure-sev-snp-vtpm"])
    assert original.tpm is not None
    assert original.tpm.signature == bytes(upstream["quote"]["signature"])
    result = _verify(json.loads(BUNDLES["azure-sev-snp-vtpm"]), original)
    assert result is not None and not result.ok
    outcome, category, summary = _check(result, "tpm-quote")
    assert (outcome, category) == (Outcome.FAIL, ExitCode.MALFORMED_INPUT)
    assert "TPMT_SIGNATURE" in summary
    assert _check(result, "azure-hcl-report")[0] is Outcome.PASS  # the TEE part still runs
    assert _check(result, "system-measured")[0] is Outcome.SKIP  # and the claims


@pytest.mark.parametrize("kind", ["sev-snp-simulated", "tdx-simulated"])
def test_an_unreadable_attestation_key_fails_tpm_quote_and_the_tee_says_why(kind: str) -> None:
    """REPORT_DATA commits to the AK's digest: when tpm.ak_public cannot be read there is no
    expected REPORT_DATA, so the TEE evidence is not verified, and both checks say so."""
    original = load_evidence(BUNDLES[kind])
    document = json.loads(BUNDLES[kind])
    document["tpm"]["ak_public"] = base64.b64encode(b"\x00\x23\x00").decode()
    result = _verify(document, original)
    assert result is not None
    outcome, category, summary = _check(result, "tpm-quote")
    assert (outcome, category) == (Outcome.FAIL, ExitCode.MALFORMED_INPUT)
    assert "TPMT_PUBLIC" in summary
    outcome, _, summary = _check(result, "tee-evidence")
    assert outcome is Outcome.SKIP and "attestation key" in summary
    assert result.exit_code is ExitCode.MALFORMED_INPUT


def test_an_unreadable_quote_fails_tee_evidence() -> None:
    original = load_evidence(BUNDLES["tdx"])
    document = json.loads(BUNDLES["tdx"])
    document["tee"]["report"] = base64.b64encode(b"\x04\x00" + bytes(100)).decode()
    result = _verify(document, original)
    assert result is not None
    outcome, category, _ = _check(result, "tee-evidence")
    assert (outcome, category) == (Outcome.FAIL, ExitCode.MALFORMED_INPUT)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_mutated_ccel_in_a_bundle_fails_a_check_or_passes(data: st.DataObject) -> None:
    """Only the TD's event log of the version 2 bundle mutated: ``rtmr-event-log`` passes
    (description bytes changed), fails with exit 1 (a digest changed) or 10 (unreadable), or is
    skipped (nothing replays) — never an exception, and the quote is verified all the same."""
    original = load_evidence(BUNDLES["tdx-simulated-v2"])
    assert original.tee.event_log is not None
    document = json.loads(dump_evidence(original))
    mutated = data.draw(_mutation(original.tee.event_log))
    assume(mutated)
    document["tee"]["event_log"] = base64.b64encode(mutated).decode()
    result = _verify(document, original)
    assert result is not None
    [check] = [c for c in result.checks if c.name == "rtmr-event-log"]
    if check.outcome is Outcome.FAIL:
        assert check.category in (ExitCode.CONTENT_MISMATCH, ExitCode.MALFORMED_INPUT)
    # the log is unsigned: changing it changes no other check's outcome
    untouched = verify_evidence(original, _request(original))
    assert _outcomes(result) == _outcomes(untouched)


def _outcomes(result: VerificationResult) -> list[tuple[str, Outcome]]:
    return [(c.name, c.outcome) for c in result.checks if c.name != "rtmr-event-log"]


def test_the_version_2_bundles_ccel_replays() -> None:
    original = load_evidence(BUNDLES["tdx-simulated-v2"])
    result = verify_evidence(original, _request(original))
    [check] = [c for c in result.checks if c.name == "rtmr-event-log"]
    assert check.outcome is Outcome.PASS, check
    assert result.claims["tee"]["measured_boot"]["rtmrs"] == ["RTMR[0]", "RTMR[1]", "RTMR[2]"]
