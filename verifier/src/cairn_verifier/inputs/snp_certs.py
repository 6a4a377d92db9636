"""Certificates that come with SEV-SNP evidence: a certificate table, or Oak endorsements.

Both are untrusted like any ``--certs`` file: the verifier chains them to AMD's pinned ARK or
fails. When the same role is supplied twice with different certificates (``--certs`` and the
report's certificate table), the input is refused rather than one of them silently preferred.
"""

from __future__ import annotations

from ..snp.certs import CertCollection
from .oak import read_oak_tee_certificate
from .protobuf import WireError
from .snp import SnpEvidence


def oak_endorsements_certificate(data: bytes) -> tuple[str, bytes] | None:
    """(kind, DER TEE certificate) if ``data`` is an Oak Endorsements protobuf, else None."""
    if data[:1] not in (b"\x0a", b"\x12", b"\x1a"):
        return None  # PEM starts with '-', DER with 0x30: neither is a protobuf
    try:
        return read_oak_tee_certificate(data)
    except WireError:
        return None


def with_evidence_certificates(
    certs: CertCollection | None, evidence: SnpEvidence, source: str
) -> CertCollection | None:
    """``certs`` plus the certificates the evidence carried (from its certificate table)."""
    if not evidence.certificates:
        return certs
    merged = certs if certs is not None else CertCollection()
    for der in evidence.certificates:
        merged.add_bytes(der, source=f"{source} (certificate table)")
    return merged
