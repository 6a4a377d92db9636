"""The verifier's public Python API: what ``cairn_agent`` (and its test doubles) import.

Everything else under ``cairn_verifier`` is internal and may move (``snp.report``, ``tdx.quote``
…); the agent imports only from here, and ``tests/verifier/test_public_api.py`` keeps it that way.
Importing this module loads the verification pipelines; ``import cairn_verifier`` alone does not.
"""

from __future__ import annotations

from .azure.hcl import HclReportType, parse_hcl_report
from .binding.channel import bind_channel, channel_digest
from .binding.gpu_digest import gpu_nonce
from .binding.proof_document import proof_document
from .binding.report_data import (
    REPORT_DATA_VERSION,
    ReportDataInputs,
    claims_digest,
    report_data,
)
from .binding.services import ServiceEntry, build_service_tree
from .binding.smt import SparseMerkleTree
from .binding.system_hash import system_hash, validate_store_path
from .checks import Outcome, VerificationResult
from .cli.completion import SHELLS, completion_script
from .collateral.cache import CollateralCache
from .collateral.http import HttpFetcher
from .ecdsa import der_to_raw
from .errors import CairnError, ParseError
from .eventlog import parse_ccel, replay
from .evidence.kinds import TeeKind
from .evidence.models import (
    TEE_EVENT_LOG_VERSION,
    AgentInfo,
    Claims,
    EvidenceBundle,
    GpuDeviceEvidence,
    GpuEvidence,
    ServiceClaim,
    SystemClaim,
    TpmEvidence,
    dump_evidence,
    evidence_json_schema,
    load_evidence,
    tee_evidence,
    tee_model,
)
from .evidence.policy import EvidencePolicy
from .evidence.request import EvidenceVerifyRequest
from .evidence.verify import verify_evidence
from .inputs.base import Platform
from .policy_document import CairnPolicy
from .snp.cert_table import CertRole, parse_cert_table
from .snp.flags import GuestPolicy, PlatformInfo, SignerInfo, SigningKey
from .snp.kds import KdsClient
from .snp.report import SIG_ALGO_ECDSA_P384_SHA384, SIGNED_SIZE, build_report
from .tdx.collateral import TdxCollateral, load_dcap_qvl_collateral
from .tdx.quote import parse_quote
from .tpm.quote import TpmQuoteResult, ak_digest, pcr_values_from_tpm2_tools, verify_tpm_quote
from .x509 import der_encode
from .x509.cert import Certificate, load_certificates, parse_certificate

__all__ = [
    "REPORT_DATA_VERSION",
    "SHELLS",
    "SIGNED_SIZE",
    "SIG_ALGO_ECDSA_P384_SHA384",
    "TEE_EVENT_LOG_VERSION",
    "AgentInfo",
    "CairnError",
    "CairnPolicy",
    "CertRole",
    "Certificate",
    "Claims",
    "CollateralCache",
    "EvidenceBundle",
    "EvidencePolicy",
    "EvidenceVerifyRequest",
    "GpuDeviceEvidence",
    "GpuEvidence",
    "GuestPolicy",
    "HclReportType",
    "HttpFetcher",
    "KdsClient",
    "Outcome",
    "ParseError",
    "Platform",
    "PlatformInfo",
    "ReportDataInputs",
    "ServiceClaim",
    "ServiceEntry",
    "SignerInfo",
    "SigningKey",
    "SparseMerkleTree",
    "SystemClaim",
    "TdxCollateral",
    "TeeKind",
    "TpmEvidence",
    "TpmQuoteResult",
    "VerificationResult",
    "ak_digest",
    "bind_channel",
    "build_report",
    "build_service_tree",
    "channel_digest",
    "claims_digest",
    "completion_script",
    "der_encode",
    "der_to_raw",
    "dump_evidence",
    "evidence_json_schema",
    "gpu_nonce",
    "load_certificates",
    "load_dcap_qvl_collateral",
    "load_evidence",
    "parse_ccel",
    "parse_cert_table",
    "parse_certificate",
    "parse_hcl_report",
    "parse_quote",
    "pcr_values_from_tpm2_tools",
    "proof_document",
    "replay",
    "report_data",
    "system_hash",
    "tee_evidence",
    "tee_model",
    "validate_store_path",
    "verify_evidence",
    "verify_tpm_quote",
]
