"""NVIDIA's two roots, shipped with Cairn and pinned by the SHA-256 of their DER.

* the **NVIDIA Device Identity CA**: every GPU and NVSwitch attestation certificate chains to
  it (the root a device sends along is ignored: it must be this one, byte for byte, or be
  left out);
* the **NVIDIA CoRIM signing Root CA**: every RIM (reference integrity manifest) signer chains
  to it.

Both are read from ``cairn_verifier/gpu/roots`` and checked against :data:`PINNED` before use;
``tests/vectors/gpu/PROVENANCE.md`` records the same fingerprints from NVIDIA's verifiers.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Final

from ..errors import CairnError
from ..x509.cert import Certificate, load_certificates


class NvidiaRoot(StrEnum):
    DEVICE_IDENTITY = "NVIDIA Device Identity CA"
    CORIM = "NVIDIA CoRIM signing Root CA"


PINNED: Final = {
    NvidiaRoot.DEVICE_IDENTITY: (
        "nvidia_device_identity_ca.pem",
        "102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48",
    ),
    NvidiaRoot.CORIM: (
        "nvidia_corim_root_ca.pem",
        "12977b5115acb0381179279fffeb5a8c4d264971ebb32298023a465fa41df5d1",
    ),
}
"""Each root's file in ``gpu/roots`` and the SHA-256 of its DER."""


@cache
def pinned_root(root: NvidiaRoot) -> Certificate:
    """The shipped root, checked against its pinned fingerprint."""
    name, fingerprint = PINNED[root]
    pem = resources.files("cairn_verifier.gpu").joinpath("roots", name).read_bytes()
    certificates = load_certificates(pem)
    if len(certificates) != 1 or certificates[0].fingerprint_sha256.hex() != fingerprint:
        raise CairnError(
            f"the packaged {root.value} does not match its pinned SHA-256 {fingerprint}",
            component="NVIDIA root",
            hint="the installation is corrupted: reinstall cairn-verifier",
        )
    return certificates[0]
