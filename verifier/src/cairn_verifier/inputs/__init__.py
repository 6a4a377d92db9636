"""Reading evidence as users hold it: named input formats, strict detectors, no guessing.

See :mod:`.formats` for the registry and ``docs/inputs.md`` for the user-facing list. The names
below load on first use, so that reading an SEV-SNP report does not load the TDX readers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .evidence import read_snp_evidence, read_tdx_evidence
    from .formats import FORMATS, InputFormat
    from .snp import SnpEvidence
    from .tdx import TdxEvidence

_HOMES = {
    "FORMATS": ".formats",
    "InputFormat": ".formats",
    "SnpEvidence": ".snp",
    "TdxEvidence": ".tdx",
    "read_snp_evidence": ".evidence",
    "read_tdx_evidence": ".evidence",
}
__all__ = [
    "FORMATS",
    "InputFormat",
    "SnpEvidence",
    "TdxEvidence",
    "read_snp_evidence",
    "read_tdx_evidence",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
