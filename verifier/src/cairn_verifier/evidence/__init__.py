"""Evidence bundles: what the Cairn agent produces and the verifier reads."""

from .models import (
    AgentInfo,
    Claims,
    EvidenceBundle,
    ServiceClaim,
    SystemClaim,
    TeeEvidence,
    TpmEvidence,
    dump_evidence,
    evidence_json_schema,
    load_evidence,
    render_json_schema,
    write_json_schema,
)

__all__ = [
    "AgentInfo",
    "Claims",
    "EvidenceBundle",
    "ServiceClaim",
    "SystemClaim",
    "TeeEvidence",
    "TpmEvidence",
    "dump_evidence",
    "evidence_json_schema",
    "load_evidence",
    "render_json_schema",
    "write_json_schema",
]
