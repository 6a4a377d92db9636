"""Reading evidence as users hold it: named input formats, strict detectors, no guessing.

See :mod:`.formats` for the registry and ``docs/inputs.md`` for the user-facing list.
"""

from .evidence import read_snp_evidence, read_tdx_evidence
from .formats import FORMATS, InputFormat
from .snp import SnpEvidence
from .tdx import TdxEvidence

__all__ = [
    "FORMATS",
    "InputFormat",
    "SnpEvidence",
    "TdxEvidence",
    "read_snp_evidence",
    "read_tdx_evidence",
]
