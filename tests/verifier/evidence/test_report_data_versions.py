"""REPORT_DATA v1 and v2 through the real pipeline: the agent's v2 evidence verifies, evidence an
agent signed as v1 still verifies, and the declared version cannot be swapped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakes.agent_server import AgentBundle, agent_bundle

from cairn_agent import evidence as agent_evidence
from cairn_verifier.binding.report_data import REPORT_DATA_VERSION
from cairn_verifier.checks import Outcome, VerificationResult


def _failed(result: VerificationResult) -> list[str]:
    return [c.name for c in result.checks if c.outcome is Outcome.FAIL]


@pytest.fixture(scope="module")
def v1_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentBundle]:
    """Evidence from an agent that still signs REPORT_DATA v1 (as before v2 existed)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(agent_evidence, "REPORT_DATA_VERSION", 1)
        with agent_bundle(tmp_path_factory.mktemp("v1-agent"), "simulated-snp") as bundle:
            yield bundle


def test_the_agent_produces_v2_and_it_verifies(snp_agent_bundle: AgentBundle) -> None:
    assert REPORT_DATA_VERSION == 2
    assert snp_agent_bundle.document["claims"]["report_data_version"] == 2
    result = snp_agent_bundle.verify()
    assert result.ok, _failed(result)


def test_v1_evidence_still_verifies(v1_bundle: AgentBundle) -> None:
    assert v1_bundle.document["claims"]["report_data_version"] == 1
    result = v1_bundle.verify()
    assert result.ok, _failed(result)


def test_the_declared_version_cannot_be_swapped(
    snp_agent_bundle: AgentBundle, v1_bundle: AgentBundle
) -> None:
    # The TEE signed one layout; claiming the other fails the REPORT_DATA binding.
    as_v1 = snp_agent_bundle.changed(lambda d: d["claims"].update(report_data_version=1))
    assert _failed(snp_agent_bundle.verify(as_v1)) == ["report-data"]
    as_v2 = v1_bundle.changed(lambda d: d["claims"].update(report_data_version=2))
    assert _failed(v1_bundle.verify(as_v2)) == ["report-data"]
