"""HCL reports over the agent's simulated SEV-SNP platform, for what no real vector shows (a
report from VMPL > 0). The layout is the agent's simulated paravisor's (Azure's)."""

from __future__ import annotations

import struct
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from cairn_agent.tee.simulated_azure import hcl_report, runtime_data
from cairn_agent.tee.simulated_snp import SimulatedSnpProvider
from cairn_verifier.azure.binding import expected_report_data
from cairn_verifier.azure.hcl import HclReportType
from cairn_verifier.azure.verify import AzureEvidence
from cairn_verifier.snp.certs import CertCollection
from cairn_verifier.x509.cert import Certificate, parse_certificate

AK_ATTRIBUTES = 0x00050072  # fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign


def rsa_tpmt_public(key: rsa.RSAPublicKey) -> bytes:
    """The TPMT_PUBLIC of an RSA-2048 AK (RSASSA-SHA256, exponent 65537) holding ``key``."""
    modulus = key.public_numbers().n.to_bytes(256, "big")
    return (
        struct.pack(">HHIH", 0x0001, 0x000B, AK_ATTRIBUTES, 0)
        + struct.pack(">HHHHI", 0x0010, 0x0014, 0x000B, 2048, 0)
        + struct.pack(">H", len(modulus))
        + modulus
    )


def snp_hcl_evidence(*, vmpl: int) -> tuple[AzureEvidence, Certificate, datetime]:
    """An HCL report whose simulated SEV-SNP report (at ``vmpl``) binds runtime data naming a
    fresh RSA key; the simulated ARK to trust, and a time its chain is valid at."""
    platform = SimulatedSnpProvider(Path(tempfile.mkdtemp()), "Genoa")
    ak = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    runtime = runtime_data(rsa_tpmt_public(ak), "00000000-0000-0000-0000-000000000001")
    report = platform.report(expected_report_data(runtime), vmpl=vmpl)
    hcl = hcl_report(HclReportType.SEV_SNP, report, runtime)
    vcek, ask, ark = platform.certificates()
    certs = CertCollection()
    for der in (vcek, ask, ark):
        certs.add_bytes(der, source="simulated")
    return (
        AzureEvidence(hcl_report=hcl, certificates=certs),
        parse_certificate(ark),
        datetime.now(UTC),
    )
