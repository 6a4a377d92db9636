"""The agent's ``TeeEvidence``: whether it is simulated follows from its kind (the verifier's
model of the kind says so), so a provider cannot label evidence otherwise."""

from __future__ import annotations

from typing import get_args

import pytest

from cairn_agent.tee.base import TeeEvidence, TeeKind
from cairn_verifier.api import tee_model


@pytest.mark.parametrize("kind", get_args(TeeKind))
def test_simulated_is_what_the_kind_says(kind: TeeKind) -> None:
    evidence = TeeEvidence(kind=kind, report=b"report")
    assert evidence.simulated is tee_model(kind).simulated
    assert evidence.simulated is kind.endswith("-simulated")


def test_a_provider_cannot_label_evidence_simulated() -> None:
    with pytest.raises(TypeError):
        TeeEvidence(kind="sev-snp", report=b"report", simulated=True)  # type: ignore[call-arg]
