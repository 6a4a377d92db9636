"""The real Azure vectors (tests/vectors/snp/PROVENANCE.md, tests/vectors/tdx/trustee-azure/
PROVENANCE.md) as `cairn verify azure` reads them, each with the time it verifies at, the nonce
its vTPM quote answers and what it should give.

trustee's tests publish the nonce of the v0/v1 quotes and of the TDX quote ("challenge"); the v2
and Genoa quotes answer 48-byte nonces trustee's e2e runs chose, which the evidence does not
state: the nonce given here is read from the quote itself (tests change it to prove that a
different one fails)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cairn_verifier.azure.inputs import AzureInput, read_azure_input
from cairn_verifier.azure.policy import AzurePolicy
from cairn_verifier.azure.verify import AzureVerifyRequest
from cairn_verifier.policy_document import CairnPolicy
from cairn_verifier.snp.certs import CertCollection
from cairn_verifier.tdx.policy import TdxPolicy
from cairn_verifier.tpm.structures import parse_attest

CHALLENGE = b"challenge"


@dataclass(frozen=True)
class AzureVector:
    name: str
    path: str
    """Relative to the test vectors."""
    platform: str
    at: datetime
    nonce: bytes
    exit_code: int
    """What `cairn verify azure` gives with :func:`policy` (TDX: no collateral, exit 5)."""


def _quote_nonce(testdata: Path, path: str) -> bytes:
    document = json.loads((testdata / path).read_text())
    message = (document.get("tpm_quote") or document["quote"])["message"]
    attest = bytes.fromhex(message) if isinstance(message, str) else bytes(message)
    return parse_attest(attest).extra_data


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def vectors(testdata: Path) -> list[AzureVector]:
    """Every real Azure vector. Times: one day after the VCEK's (SEV-SNP) or PCK's (TDX)
    notBefore, as tests/verifier/snp/vectors.py pins them."""
    return [
        AzureVector(
            "snp-milan-v0",
            "snp/trustee/az-snp-vtpm_evidence-v0.json",
            "SEV-SNP",
            _at("2025-01-29T16:26:55+00:00"),
            CHALLENGE,
            0,
        ),
        AzureVector(
            "snp-milan-v1",
            "snp/trustee/az-snp-vtpm_evidence-v1.json",
            "SEV-SNP",
            _at("2025-01-29T16:26:55+00:00"),
            CHALLENGE,
            0,
        ),
        AzureVector(
            "snp-milan-v2",
            "snp/trustee/az-snp-vtpm_evidence-v2.json",
            "SEV-SNP",
            _at("2025-01-29T16:33:43+00:00"),
            _quote_nonce(testdata, "snp/trustee/az-snp-vtpm_evidence-v2.json"),
            0,
        ),
        AzureVector(
            "snp-genoa",
            "snp/trustee/az-snp-vtpm_evidence-genoa.json",
            "SEV-SNP",
            _at("2025-01-25T02:21:48+00:00"),
            _quote_nonce(testdata, "snp/trustee/az-snp-vtpm_evidence-genoa.json"),
            0,
        ),
        AzureVector(
            "tdx",
            "tdx/trustee-azure/evidence-v0.json",
            "TDX",
            # PCK certificate notBefore 2023-09-13T21:00:51Z + 1 day
            _at("2023-09-14T21:00:51+00:00"),
            CHALLENGE,
            5,  # no Intel collateral for FMSPC 00806F050000 in tests/vectors/tdx
        ),
    ]


def policy() -> CairnPolicy:
    """What the real vectors need: Azure attaches the serial console by default, and Azure's
    TDX paravisor runs with SEPT_VE_DISABLE clear."""
    return CairnPolicy(
        azure=AzurePolicy(allow_console=True),
        tdx=TdxPolicy(require_sept_ve_disable=False),
    )


def read(testdata: Path, vector: AzureVector) -> AzureInput:
    data = (testdata / vector.path).read_bytes()
    found = read_azure_input(data, vector.path)
    if found.vcek is not None:
        certs = CertCollection()
        certs.add_bytes(found.vcek, source="vcek")
        found = replace(found, evidence=replace(found.evidence, certificates=certs))
    return found


def request(vector: AzureVector, **changes: object) -> AzureVerifyRequest:
    fields: dict[str, object] = {"at": vector.at, "policy": policy(), "nonce": vector.nonce}
    return AzureVerifyRequest(**(fields | changes))  # type: ignore[arg-type]
