"""The public evidence readers: each names the other platform's evidence when it gets it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # each reader loads the other only to name evidence of the other platform
    from .snp import SnpEvidence
    from .tdx import TdxEvidence


def _as_tdx(data: bytes) -> tuple[str, str]:
    from .tdx import read_tdx

    evidence = read_tdx(data, other=None)
    return f"an Intel TDX quote (v{evidence.quote.header.version})", evidence.container


def _as_snp(data: bytes) -> tuple[str, str]:
    from .snp import read_snp

    evidence = read_snp(data, other=None)
    version = int.from_bytes(evidence.report[:4], "little")
    return f"an AMD SEV-SNP attestation report (version {version})", evidence.container


def read_snp_evidence(data: bytes) -> SnpEvidence:
    """The SEV-SNP report in ``data`` (any format of :mod:`.formats`); MalformedInputError if
    there is none, if the input is ambiguous, or if it is something else (which is named)."""
    from .snp import read_snp

    return read_snp(data, other=_as_tdx)


def read_tdx_evidence(data: bytes) -> TdxEvidence:
    """The TDX quote in ``data`` (any format of :mod:`.formats`), parsed; MalformedInputError
    if there is none, if the input is ambiguous, or if it is something else (named)."""
    from .tdx import read_tdx

    return read_tdx(data, other=_as_snp)
