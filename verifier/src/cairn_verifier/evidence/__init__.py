"""Evidence bundles: what the Cairn agent produces and the verifier reads.

The names below come from :mod:`.models` (pydantic), imported on first use, so that importing a
submodule (e.g. the ``[evidence]`` policy section) does not load the bundle's models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import (
        AgentInfo,
        Claims,
        EvidenceBundle,
        GpuDeviceEvidence,
        GpuEvidence,
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
    "GpuDeviceEvidence",
    "GpuEvidence",
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


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(".models", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
