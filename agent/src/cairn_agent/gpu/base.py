"""The interface every GPU evidence provider implements.

A provider is asked, under the agent's hardware lock, for one attestation report per device
for an SPDM nonce (:func:`cairn_verifier.api.gpu_nonce` of the verifier's nonce) and returns the
reports exactly as the devices produced them, with each device's certificate chain (DER, leaf
first). The agent hashes them into REPORT_DATA's ``gpu_digest`` and puts them in the bundle.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..tee.base import ProviderError

__all__ = ["GpuDevice", "GpuEvidenceProvider", "ProviderError", "load_library"]


def load_library(
    library: str,
    signatures: Mapping[str, tuple[Any, list[Any]]],
    *,
    name: str,
    install_hint: str,
    too_old: str,
) -> ctypes.CDLL:
    """Load a vendor library with ctypes and declare each function's (restype, argtypes).

    A library that cannot be loaded, or lacks one of the functions, is a :class:`ProviderError`
    naming it: ``install_hint`` says what to install, ``too_old`` why a function may be missing.
    """
    try:
        lib = ctypes.CDLL(library)
    except OSError as exc:
        raise ProviderError(f"cannot load {name} ({library}): {exc}", hint=install_hint) from exc
    for function, (restype, argtypes) in signatures.items():
        try:
            entry = getattr(lib, function)
        except AttributeError as exc:
            raise ProviderError(f"{library} has no {function}: {too_old}") from exc
        entry.argtypes = argtypes
        entry.restype = restype
    return lib


@dataclass(frozen=True)
class GpuDevice:
    """One GPU's or NVSwitch's attestation report (SPDM 1.1 GET_MEASUREMENTS transcript) and
    its certificate chain, DER, leaf first."""

    report: bytes
    certificates: tuple[bytes, ...]


class GpuEvidenceProvider(Protocol):
    """One source of GPU evidence."""

    name: str
    """Configuration name: "nvml" or "simulated"."""
    simulated: bool
    """True when nothing the provider returns is hardware-backed (every output says so)."""

    def get_gpu_evidence(self, nonce: bytes) -> tuple[GpuDevice, ...]:
        """One report per device for the 32-byte SPDM ``nonce``; ProviderError on failure."""
        ...

    def describe(self) -> str:
        """One line for logs and /healthz: what this provider is and what it talks to."""
        ...
