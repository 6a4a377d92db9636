"""The Azure vTPM binding v1 (docs/spec/azure-vtpm-v1.md): how an ``azure-*-vtpm`` evidence
bundle ties the claims to the hardware when the guest cannot choose REPORT_DATA.

* hardware: REPORT_DATA = SHA-256(HCL runtime data) ‖ 32 zero bytes (Azure's paravisor asks
  for it; :func:`expected_report_data`);
* runtime data → HCLAkPub, which must be the key of the bundle's ``tpm.ak_public``;
* ``tpm.quote``'s extraData = the claims digest of REPORT_DATA v1 (docs/spec/report-data-v1.md),
  whose ``ak_digest`` is SHA-256 of that TPMT_PUBLIC.

The kinds name the binding; the constants below name its version for ``cairn --version``.
"""

from __future__ import annotations

import hashlib
from typing import Final

TAG: Final = "azure-vtpm"
VERSION: Final = 1


def expected_report_data(runtime_data: bytes) -> bytes:
    """The REPORT_DATA the paravisor asked the hardware for: SHA-256(runtime data) ‖ 0³²."""
    return hashlib.sha256(runtime_data).digest() + bytes(32)
