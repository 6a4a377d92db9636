"""Decoding user-supplied blobs (raw binary, hex, base64, PEM) and finding SEV-SNP reports.

The implementation lives in :mod:`cairn_verifier.inputs` (``text`` for the encodings, the
readers for the containers); this module keeps the names other modules import.
"""

from __future__ import annotations

from .inputs.evidence import read_snp_evidence
from .inputs.text import BlobFormat, decode_blob, decode_blob_with_format

__all__ = ["BlobFormat", "decode_blob", "decode_blob_with_format", "extract_snp_report"]


def extract_snp_report(blob: bytes) -> tuple[bytes, str]:
    """The 1184-byte SEV-SNP report in ``blob`` (any accepted input format) and its container."""
    evidence = read_snp_evidence(blob)
    return evidence.report, evidence.container
