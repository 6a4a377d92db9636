"""The kinds of TEE evidence an evidence bundle carries (``tee.kind``): one definition for the
agent that produces them and the verifier that checks them."""

from __future__ import annotations

from typing import Final, Literal, get_args

TeeKind = Literal["sev-snp", "tdx", "sev-snp-simulated", "tdx-simulated", "azure-sev-snp-vtpm"]
TEE_KINDS: Final[tuple[TeeKind, ...]] = get_args(TeeKind)
