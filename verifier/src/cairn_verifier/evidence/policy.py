"""The ``[evidence]`` section of a Cairn policy: what the claims in an evidence bundle must say."""

from __future__ import annotations

from pydantic import Field

from ..policy import Hex32, HexAny, PolicyModel


class ServiceRule(PolicyModel):
    """Constraints on one named service; empty lists mean "any"."""

    store_paths: tuple[str, ...] = ()
    public_keys: tuple[HexAny, ...] = ()


class EvidencePolicy(PolicyModel):
    """Claims a relying party accepts. TEE checks come from the ``[snp]``/``[tdx]`` sections."""

    system_store_paths: tuple[str, ...] = ()
    """Accepted NixOS system store paths (any one); empty = not checked."""
    system_hashes: tuple[Hex32, ...] = ()
    """Accepted system hashes (any one); empty = not checked."""
    required_services: tuple[str, ...] = ()
    """Services that must be present in the attested tree."""
    services: dict[str, ServiceRule] = Field(default_factory=dict)
    """Allowed services with their accepted store paths / public keys."""
    allow_unlisted_services: bool = False
    """When ``services`` is non-empty, whether services it does not list are acceptable."""
    pcrs: dict[str, dict[int, HexAny]] = Field(default_factory=dict)
    """Expected PCR values per bank, e.g. ``{"sha256": {"7": "…"}}``."""
    require_tpm: bool = True
    """Reject evidence without a TPM quote (the TPM binds the boot chain to the TEE report)."""
