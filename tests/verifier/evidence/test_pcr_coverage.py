"""Only PCR values the verified TPM quote covers can satisfy ``[evidence.pcrs]``.

Bundles come from a real agent (swtpm + simulated SEV-SNP, trusted explicitly) whose quote
selects sha256 PCRs 0-7 and 16; every test changes the bundle's ``tpm.pcrs`` JSON the way an
attacker who controls the bundle could, then verifies it with a policy.
"""

from __future__ import annotations

import copy
from typing import Any

from fakes.agent_server import AgentBundle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn_verifier.checks import Outcome, VerificationResult
from cairn_verifier.errors import ExitCode
from cairn_verifier.evidence.models import PCR_DIGEST_BYTES
from cairn_verifier.evidence.policy import EvidencePolicy
from cairn_verifier.policy_document import CairnPolicy

QUOTED = {("sha256", i) for i in (0, 1, 2, 3, 4, 5, 6, 7, 16)}  # fakes.agent_server config
Pcrs = dict[str, dict[str, str]]


def _verify(
    bundle: AgentBundle, pcrs: Pcrs, pins: dict[str, dict[int, bytes]]
) -> VerificationResult:
    def replace_pcrs(document: dict[str, Any]) -> None:
        document["tpm"]["pcrs"] = pcrs

    policy = CairnPolicy(evidence=EvidencePolicy(pcrs=pins))
    return bundle.verify(bundle.changed(replace_pcrs), policy)


def _pcrs(bundle: AgentBundle) -> Pcrs:
    """A copy of the bundle's ``tpm.pcrs`` JSON to change."""
    return copy.deepcopy(bundle.document["tpm"]["pcrs"])


def _outcomes(result: VerificationResult) -> dict[str, Outcome]:
    return {c.name: c.outcome for c in result.checks}


def _check(result: VerificationResult, name: str) -> Any:
    return next(c for c in result.checks if c.name == name)


def test_the_untouched_bundle_satisfies_a_pin_on_a_quoted_pcr(
    snp_agent_bundle: AgentBundle,
) -> None:
    pcr16 = snp_agent_bundle.genuine_pcrs[("sha256", 16)]
    result = _verify(snp_agent_bundle, _pcrs(snp_agent_bundle), {"sha256": {16: pcr16}})
    assert result.exit_code is ExitCode.OK, result.to_json()
    assert _outcomes(result)["tpm-pcr-coverage"] is Outcome.PASS
    assert _outcomes(result)["pcr-sha256-16"] is Outcome.PASS
    assert set(snp_agent_bundle.genuine_pcrs) == QUOTED


def test_a_forged_value_for_an_unquoted_pcr_satisfies_nothing(
    snp_agent_bundle: AgentBundle,
) -> None:
    """Issue 11 item 1: "9": "11…11" added to tpm.pcrs.sha256 and pinned; it was PASS, exit 0."""
    pcrs = _pcrs(snp_agent_bundle)
    pcrs["sha256"]["9"] = "11" * 32
    result = _verify(snp_agent_bundle, pcrs, {"sha256": {9: b"\x11" * 32}})
    outcomes = _outcomes(result)
    assert outcomes["pcr-sha256-9"] is Outcome.FAIL
    coverage = _check(result, "tpm-pcr-coverage")
    assert coverage.outcome is Outcome.FAIL and "sha256:9" in coverage.summary
    assert "not trusted" in coverage.summary
    assert result.exit_code is ExitCode.MALFORMED_INPUT
    assert _check(result, "pcr-sha256-9").actual == "(not quoted)"


def test_an_extra_bank_satisfies_nothing(snp_agent_bundle: AgentBundle) -> None:
    pcrs = _pcrs(snp_agent_bundle)
    pcrs["sha1"] = {"0": "22" * 20}
    result = _verify(snp_agent_bundle, pcrs, {"sha1": {0: b"\x22" * 20}})
    assert _outcomes(result)["pcr-sha1-0"] is Outcome.FAIL
    assert "sha1:0" in _check(result, "tpm-pcr-coverage").summary
    assert result.exit_code is ExitCode.MALFORMED_INPUT


def test_a_pin_on_a_pcr_the_quote_does_not_select_fails_with_a_hint(
    snp_agent_bundle: AgentBundle,
) -> None:
    result = _verify(snp_agent_bundle, _pcrs(snp_agent_bundle), {"sha256": {9: bytes(32)}})
    check = _check(result, "pcr-sha256-9")
    assert check.outcome is Outcome.FAIL
    assert check.category is ExitCode.POLICY_REJECTED
    assert "the quote does not select PCR sha256:9; configure the agent's tpm.pcrs" in check.hint
    assert _outcomes(result)["tpm-pcr-coverage"] is Outcome.PASS
    assert result.exit_code is ExitCode.POLICY_REJECTED


def test_pins_are_not_compared_when_the_quote_does_not_verify(
    snp_agent_bundle: AgentBundle,
) -> None:
    pcrs = _pcrs(snp_agent_bundle)
    pcrs["sha256"]["16"] = "33" * 32  # a quoted PCR, changed: the digest no longer matches
    result = _verify(snp_agent_bundle, pcrs, {"sha256": {16: b"\x33" * 32}})
    assert _outcomes(result)["tpm-pcr-digest"] is Outcome.FAIL
    assert _outcomes(result)["pcr-sha256-16"] is Outcome.SKIP
    assert result.exit_code is ExitCode.CONTENT_MISMATCH


BANKS = sorted(PCR_DIGEST_BYTES)
PCR_KEYS = st.tuples(st.sampled_from(BANKS), st.integers(0, 23))


def _digest(bank: str) -> st.SearchStrategy[bytes]:
    size = PCR_DIGEST_BYTES[bank]
    return st.one_of(st.binary(min_size=size, max_size=size), st.just(b"\x11" * size))


@st.composite
def _attacks(draw: st.DrawFn) -> tuple[dict[tuple[str, int], bytes], set[tuple[str, int]]]:
    """PCR values to add or overwrite, and PCRs to drop from the bundle."""
    keys = draw(st.sets(PCR_KEYS, max_size=6))
    changes = {key: draw(_digest(key[0])) for key in keys}
    drops = draw(st.sets(st.sampled_from(sorted(QUOTED)), max_size=2))
    return changes, drops


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attack=_attacks(), pinned=st.sets(PCR_KEYS, max_size=4), data=st.data())
def test_no_policy_is_satisfied_by_a_value_the_quote_does_not_cover(
    snp_agent_bundle: AgentBundle,
    attack: tuple[dict[tuple[str, int], bytes], set[tuple[str, int]]],
    pinned: set[tuple[str, int]],
    data: st.DataObject,
) -> None:
    changes, drops = attack
    genuine = snp_agent_bundle.genuine_pcrs
    values = {key: value for key, value in genuine.items() if key not in drops}
    values.update(changes)
    pcrs: dict[str, dict[str, str]] = {}
    for (bank, index), value in sorted(values.items()):
        pcrs.setdefault(bank, {})[str(index)] = value.hex()
    if not pcrs:  # a bundle needs at least one PCR value (the model refuses an empty map)
        return
    # Pin what the (possibly forged) bundle claims, or the genuine value, or anything at all.
    pins: dict[str, dict[int, bytes]] = {}
    for bank, index in pinned | set(changes):
        choices = [v for v in (values.get((bank, index)), genuine.get((bank, index))) if v]
        pick = data.draw(st.sampled_from(choices) if choices else _digest(bank))
        pins.setdefault(bank, {})[index] = pick
    result = _verify(snp_agent_bundle, pcrs, pins)

    for check in result.checks:
        if check.name.startswith("pcr-") and check.outcome is Outcome.PASS:
            bank, _, index = check.name.removeprefix("pcr-").rpartition("-")
            key = (bank, int(index))
            assert key in QUOTED, f"{check.name} passed on a PCR the quote does not select"
            assert pins[bank][int(index)] == genuine[key], f"{check.name} passed a forged value"
    if values != genuine:
        assert result.exit_code is not ExitCode.OK, "a changed tpm.pcrs verified"
    else:
        assert _outcomes(result)["tpm-pcr-coverage"] is Outcome.PASS
