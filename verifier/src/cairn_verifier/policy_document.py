"""The whole policy document: one section per kind of evidence."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from .azure.policy import AzurePolicy
from .errors import PolicyFileError
from .evidence.policy import EvidencePolicy
from .gpu.policy import GpuPolicy
from .policy import PolicyModel, read_policy_document, validation_message
from .snp.policy import SnpPolicy
from .tdx.policy import TdxPolicy


class CairnPolicy(PolicyModel):
    """A policy file: ``[snp]``, ``[tdx]``, ``[gpu]``, ``[azure]`` and ``[evidence]`` sections."""

    snp: SnpPolicy = SnpPolicy()
    tdx: TdxPolicy = TdxPolicy()
    gpu: GpuPolicy = GpuPolicy()
    azure: AzurePolicy = AzurePolicy()
    evidence: EvidencePolicy = EvidencePolicy()


def load_policy(path: Path | None) -> CairnPolicy:
    """Load a policy file; ``None`` gives the fail-closed defaults."""
    if path is None:
        return CairnPolicy()
    document = read_policy_document(path)
    try:
        return CairnPolicy.model_validate(document)
    except ValidationError as exc:
        raise PolicyFileError(
            f"policy file {path} is invalid: {validation_message(exc)}",
            hint="see docs/policy.md for the policy keys",
        ) from exc
