"""Every check name, one registry per pipeline, each with a one-line meaning.

Check names are output: they are printed, they are keys in ``--json`` results that scripts
match on, and the docs (snp.md, tdx.md, gpu.md, cloud.md, policy.md, zk.md, spec/evidence-bundle.md,
services/README.md) explain them. The pipelines name their checks with these members only (a
member is its name: ``SnpCheck.VALIDITY == "validity"``), and tests hold the registry, the code
and the docs to each other. A name may appear in two pipelines (``validity``, ``report-data``,
``debug-disabled``) where it means the same thing there. The evidence pipeline's results also
carry the checks of the SEV-SNP or TDX pipeline and of the TPM quote; ``cairn verify response``
and ``cairn zk verify`` add theirs to the evidence pipeline's.

Two evidence checks are families with a name per instance: :data:`PCR_CHECK` and
:data:`SERVICE_CHECK`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Self

from .records import Record


class CheckName(StrEnum):
    """A check's name (the member's value, as printed) and what it checks (:attr:`meaning`)."""

    meaning: str

    def __new__(cls, value: str, meaning: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        return member


class SnpCheck(CheckName):
    """The SEV-SNP pipeline (docs/snp.md, "The checks"; policy keys in docs/policy.md)."""

    LEAF_CERTIFICATE = "leaf-certificate", "the VCEK or VLEK that signed the report is at hand"
    PRODUCT_LINE = "product-line", "the AMD product line, agreed on by every source of it"
    ARK_PINNED = "ark-pinned", "the ARK is AMD's pinned ARK (or the trusted simulated ARK)"
    ARK_SELF_SIGNATURE = "ark-self-signature", "the ARK is self-signed (RSASSA-PSS SHA-384)"
    INTERMEDIATE_SIGNATURE = (
        "intermediate-signature",
        "the ASK or ASVK is of this product line and signed by the ARK",
    )
    LEAF_SIGNATURE = "leaf-signature", "the VCEK is signed by the ASK, the VLEK by the ASVK"
    REPORT_SIGNATURE = "report-signature", "the report's ECDSA P-384 signature is the leaf's"
    REPORT_FORMAT = "report-format", "the authenticated report parses strictly"
    SIGNING_KEY_MATCHES_CERTIFICATE = (
        "signing-key-matches-certificate",
        "SIGNING_KEY names the kind of certificate that verified the report",
    )
    CPUID_MATCHES_PRODUCT = (
        "cpuid-matches-product",
        "the report's CPUID family and model are of the product line",
    )
    CERTIFICATE_EXTENSIONS = "certificate-extensions", "the leaf's AMD extensions decode"
    TCB_MATCHES_CERTIFICATE = (
        "tcb-matches-certificate",
        "REPORTED_TCB equals the TCB in the leaf certificate",
    )
    CHIP_ID_MATCHES_HWID = "chip-id-matches-hwid", "CHIP_ID equals the VCEK's hwID"
    VALIDITY = "validity", "a certificate of the chain is valid at the verification time"
    REVOCATION = "revocation", "AMD's current CRL, signed by the ARK, does not list the ASK/ASVK"
    DEBUG_DISABLED = "debug-disabled", "the guest policy forbids debugging"
    MIGRATION_AGENT = "migration-agent", "the guest has no migration agent (unless allowed)"
    SMT = "smt", "the guest policy's SMT bit is one the policy allows"
    MINIMUM_ABI = "minimum-abi", "the guest policy's firmware ABI is at least the minimum"
    VMPL = "vmpl", "the report was requested at an allowed VMPL"
    GUEST_SVN = "guest-svn", "GUEST_SVN is at least the policy's minimum"
    MINIMUM_TCB = "minimum-tcb", "each REPORTED_TCB component is at least the policy's minimum"
    PRODUCT_ALLOWED = "product-allowed", "the product line is one the policy allows"
    SIGNING_KEY_ALLOWED = "signing-key-allowed", "the signing key kind (VCEK/VLEK) is allowed"
    CHIP_ID_ALLOWED = "chip-id-allowed", "CHIP_ID is on the policy's allowlist"
    MEASUREMENT = "measurement", "MEASUREMENT is one the policy accepts"
    REPORT_DATA = "report-data", "REPORT_DATA equals the expected 64 bytes"
    HOST_DATA = "host-data", "HOST_DATA equals the policy's value"
    ID_KEY_DIGEST = "id-key-digest", "ID_KEY_DIGEST is one the policy accepts"
    AUTHOR_KEY_DIGEST = "author-key-digest", "AUTHOR_KEY_DIGEST is one the policy accepts"


class TdxCheck(CheckName):
    """The TDX pipeline (docs/tdx.md, "The checks, in order"; policy keys in docs/policy.md)."""

    QE_VENDOR = "qe-vendor", "the quote comes from Intel's quoting enclave"
    PCK_CHAIN = "pck-chain", "the quote carries a PCK certificate and its CA"
    PCK_ROOT_PINNED = "pck-root-pinned", "the PCK chain's root is Intel's pinned SGX Root CA"
    PCK_CA_KIND = "pck-ca-kind", "the PCK CA is Intel's Platform or Processor CA"
    PCK_CA_SIGNATURE = "pck-ca-signature", "the PCK CA is signed by the root"
    PCK_LEAF_SIGNATURE = "pck-leaf-signature", "the PCK certificate is signed by its CA"
    VALIDITY = "validity", "a certificate is valid at the verification time"
    QE_REPORT_SIGNATURE = "qe-report-signature", "the QE report is signed by the PCK key"
    QE_REPORT_BINDING = "qe-report-binding", "the QE report certifies the attestation key"
    QUOTE_SIGNATURE = "quote-signature", "the attestation key signed header and TD report"
    PCK_EXTENSIONS = "pck-extensions", "the PCK certificate's SGX extensions decode"
    COLLATERAL = "collateral", "TCB info, QE identity and CRLs are at hand"
    TCB_INFO_SIGNATURE = "tcb-info-signature", "the TCB info is signed by a chain to the root"
    QE_IDENTITY_SIGNATURE = (
        "qe-identity-signature",
        "the QE identity is signed by a chain to the root",
    )
    TCB_INFO_MATCHES_PCK = "tcb-info-matches-pck", "the TCB info is for the PCK's FMSPC and PCE-ID"
    TCB_INFO_CURRENT = "tcb-info-current", "the TCB info is current at the verification time"
    QE_IDENTITY_CURRENT = (
        "qe-identity-current",
        "the QE identity is current at the verification time",
    )
    ROOT_CA_CRL = "root-ca-crl", "the root's current CRL lists neither the PCK CA nor TCB signer"
    PCK_CRL = "pck-crl", "the PCK CA's current CRL does not list the PCK certificate"
    PCK_CRL_ISSUER_CHAIN = (
        "pck-crl-issuer-chain",
        "the collateral's PCK CRL issuer chain leads to the root and signed the PCK CRL",
    )
    TCB_STATUS = "tcb-status", "Intel's TCB status of the platform is one the policy accepts"
    ADVISORIES = "advisories", "every advisory of the platform's TCB level is allowed"
    DEBUG_DISABLED = "debug-disabled", "the TD is not debuggable"
    SEPT_VE_DISABLE = "sept-ve-disable", "the TD attribute SEPT_VE_DISABLE is set"
    XFAM = "xfam", "XFAM equals the policy's value"
    MR_TD = "mr-td", "MRTD is one the policy accepts"
    RTMR0 = "rtmr0", "RTMR0 equals the policy's value"
    RTMR1 = "rtmr1", "RTMR1 equals the policy's value"
    RTMR2 = "rtmr2", "RTMR2 equals the policy's value"
    RTMR3 = "rtmr3", "RTMR3 equals the policy's value"
    MR_CONFIG_ID = "mr-config-id", "MRCONFIGID equals the policy's value"
    MR_OWNER = "mr-owner", "MROWNER equals the policy's value"
    MR_OWNER_CONFIG = "mr-owner-config", "MROWNERCONFIG equals the policy's value"
    MR_SERVICE_TD = "mr-service-td", "MRSERVICETD equals the policy's value"
    REPORT_DATA = "report-data", "REPORTDATA equals the expected 64 bytes"
    RTMR_EVENT_LOG = (
        "rtmr-event-log",
        "the TD's event log replays to the quoted RTMRs it extends before the OS runs",
    )
    KERNEL_SHA384 = (
        "kernel-sha384",
        "the kernel the verified event log shows on RTMR[1] is one the policy accepts",
    )


class GpuCheck(CheckName):
    """NVIDIA GPU and NVSwitch evidence (docs/gpu.md, "The checks"; policy keys in
    docs/policy.md); within ``cairn verify evidence`` as well."""

    SPDM_FORMAT = "spdm-format", "the attestation report parses by structure (SPDM 1.1)"
    DEVICE_CHAIN = "device-chain", "the device chain has its four levels below the root"
    DEVICE_ROOT_PINNED = (
        "device-root-pinned",
        "the chain leads to the pinned NVIDIA Device Identity CA",
    )
    DEVICE_CERTIFICATE = (
        "device-certificate",
        "a chain certificate is signed by its issuer, with its level's CA flags",
    )
    DEVICE_FAMILY = "device-family", "the leaf names a device family the policy accepts"
    VALIDITY = "validity", "a certificate is valid at the verification (or RIM) time"
    SPDM_SIGNATURE = (
        "spdm-signature",
        "the leaf key's ECDSA P-384/SHA-384 signature covers request and response",
    )
    SPDM_NONCE = "spdm-nonce", "the request's nonce is the verifier's (constant-time compare)"
    OPAQUE_DATA = "opaque-data", "the signed opaque fields (versions, board, FWID) decode"
    FWID = "fwid", "the report's FWID equals the leaf certificate's FWID extension"
    DEVICE_REVOCATION = (
        "device-revocation",
        "OCSP or a CRL says no CA of the device chain is revoked",
    )
    DRIVER_VERSION = "driver-version", "the GPU driver version is one the policy accepts"
    FIRMWARE_VERSION = (
        "firmware-version",
        "the VBIOS or NVSwitch BIOS version is one the policy accepts",
    )
    RIM_AVAILABLE = "rim-available", "the device's RIM is at hand (bundle, cache, file, NVIDIA)"
    RIM_SIGNATURE = "rim-signature", "the RIM's XML signature verifies with its signer's key"
    RIM_CHAIN = (
        "rim-chain",
        "the RIM signer chains to the pinned CoRIM root, valid at the RIM's time",
    )
    RIM_REVOCATION = (
        "rim-revocation",
        "OCSP or a CRL says no certificate of the RIM chain is revoked",
    )
    RIM_IDENTITY = "rim-identity", "the RIM's product and version are the device's"
    MEASUREMENTS = "measurements", "every active RIM measurement equals the device's"
    DISTINCT_DEVICES = "distinct-devices", "no device appears twice in the evidence"
    DEVICE_COUNT = "device-count", "each family has the number of devices the policy names"


class TpmCheck(CheckName):
    """A TPM quote, in the evidence pipeline (docs/spec/evidence-bundle.md, "Verification")."""

    QUOTE_SIGNATURE = "tpm-quote-signature", "the attestation key signed the quote"
    ATTESTATION_KEY = "tpm-attestation-key", "the AK is a restricted, TPM-generated signing key"
    QUOTE_NONCE = "tpm-quote-nonce", "the quote's extraData is the verifier's nonce"
    PCR_DIGEST = "tpm-pcr-digest", "the given PCR values reproduce the quote's pcrDigest"
    PCR_COVERAGE = "tpm-pcr-coverage", "every given PCR value is one the quote selects"


class AzureCheck(CheckName):
    """An Azure confidential VM's vTPM evidence (docs/cloud.md, "What Cairn checks on Azure"),
    besides the SEV-SNP or TDX pipeline's checks and the vTPM quote's (``tpm-*``)."""

    HCL_REPORT = "azure-hcl-report", "the vTPM's HCL report parses and its sizes agree"
    RUNTIME_DATA = (
        "azure-runtime-data",
        "the HCL runtime data is strict JSON naming one HCLAkPub RSA key",
    )
    TD_QUOTE = "azure-td-quote", "the TD quote from Azure's quote endpoint can be read"
    VMPL = "azure-vmpl", "the SEV-SNP report was requested at VMPL 0, by the paravisor"
    TD_REPORT = (
        "azure-td-report",
        "the HCL's TD report is the TD quote's body and its own hashes hold",
    )
    ATTESTATION_KEY = "azure-ak", "the vTPM attestation key given is HCLAkPub of the runtime data"
    VTPM_QUOTE = "azure-vtpm-quote", "the vTPM quote, its signature and PCR values can be read"
    SECURE_BOOT = "azure-secure-boot", "vm-configuration says Secure Boot is on (unless waived)"
    TPM_ENABLED = "azure-tpm-enabled", "vm-configuration says the vTPM is enabled"
    CONSOLE = "azure-console", "the serial console is off, or the policy allows it"
    TPM_PERSISTED = "azure-tpm-persisted", "tpm-persisted is what the policy requires"
    VM_ID = "azure-vm-id", "vmUniqueId is one the policy accepts"
    USER_DATA = "azure-user-data", "the runtime data's user-data is the policy's value"


class EvidenceCheck(CheckName):
    """A Cairn evidence bundle (docs/spec/evidence-bundle.md, "Verification"; its policy in
    docs/policy.md, "The evidence section"), besides the TEE's and the TPM quote's checks."""

    NONCE = "nonce", "the claims answer this verifier's nonce"
    SYSTEM_HASH = "system-hash", "the claimed system hash is that of the claimed store path"
    SERVICE_TREE = "service-tree", "the claimed services produce the claimed tree root"
    TEE_KIND = "tee-kind", "the TEE evidence is of a kind that can be trusted here"
    TEE_EVIDENCE = (
        "tee-evidence",
        "the TEE evidence can be read and verified (recorded only when it cannot)",
    )
    TPM_QUOTE = (
        "tpm-quote",
        "the bundle carries a TPM quote that can be read (unless the policy waives it)",
    )
    TEE_CERTIFICATES = "tee-certificates", "certificates beside a TDX quote are its own chain"
    TPM_EVENT_LOG = (
        "tpm-event-log",
        "the TCG event log replays to the PCR values the verified quote covers",
    )
    GPU_EVIDENCE = "gpu-evidence", "GPU evidence is there exactly when gpu_digest is, and verified"
    GPU_DIGEST = "gpu-digest", "the bundle's GPU evidence is the one the claims' gpu_digest names"
    SYSTEM_STORE_PATH = "system-store-path", "the NixOS system is one the policy accepts"
    SYSTEM_HASH_ALLOWED = "system-hash-allowed", "the system hash is one the policy accepts"
    REQUIRED_SERVICES = "required-services", "every service the policy requires is attested"
    SYSTEM_MEASURED = (
        "system-measured",
        "the claimed system is the one the measured command line boots",
    )


class ResponseCheck(CheckName):
    """``cairn verify response`` (services/README.md), after the evidence pipeline's checks."""

    SERVICE = "response-service", "the evidence attests the named service and its key"
    REQUEST = "response-request", "the response echoes the request id and payload sent"
    SIGNATURE = "response-signature", "the service's key signed the response"


class ZkCheck(CheckName):
    """``cairn zk prove`` and ``cairn zk verify`` (docs/zk.md)."""

    SERVICE_PROOF = "zk-service-proof", "the service proof is for the evidence's service tree"
    RESPONSE_SIGNATURE = "zk-response-signature", "the service signed the request to prove"
    PROOF_WRITTEN = "zk-proof-written", "the membership proof was made and written"
    CLAIMS_COMMITMENT = (
        "zk-claims-commitment",
        "the proof's claims commitment is this evidence's (REPORT_DATA v2)",
    )
    RESPONSE_HASH = "zk-response-hash", "the proof is about this request and payload"
    SYSTEM_HASH = "zk-system-hash", "the disclosed system hash is the evidence's"
    PROOF = "zk-proof", "the membership proof verifies"


class CheckFamily(Record):
    """Checks named per instance: ``<prefix>-<parts joined by '-'>`` (``pcr-sha256-7``)."""

    prefix: str
    placeholder: str
    """How the docs write the variable part (``pcr-BANK-INDEX``)."""
    meaning: str

    __slots__ = ("meaning", "placeholder", "prefix")

    def __init__(self, prefix: str, placeholder: str, meaning: str) -> None:
        object.__setattr__(self, "prefix", prefix)
        object.__setattr__(self, "placeholder", placeholder)
        object.__setattr__(self, "meaning", meaning)

    def name(self, *parts: object) -> str:
        return "-".join([self.prefix, *(str(part) for part in parts)])

    @property
    def documented_as(self) -> str:
        return f"{self.prefix}-{self.placeholder}"

    def matches(self, name: str) -> bool:
        return re.fullmatch(rf"{re.escape(self.prefix)}-\S+", name) is not None


PCR_CHECK = CheckFamily("pcr", "BANK-INDEX", "a PCR the quote covers has the policy's value")
SERVICE_CHECK = CheckFamily("service", "NAME", "an attested service is one the policy allows")


class Pipeline(Record):
    """One pipeline's registry: its check names and families."""

    name: str
    checks: type[CheckName]
    families: tuple[CheckFamily, ...]

    __slots__ = ("checks", "families", "name")

    def __init__(
        self, name: str, checks: type[CheckName], families: tuple[CheckFamily, ...] = ()
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "checks", checks)
        object.__setattr__(self, "families", families)

    def knows(self, name: str) -> bool:
        return name in set(self.checks) or any(f.matches(name) for f in self.families)


PIPELINES = (
    Pipeline("sev-snp", SnpCheck),
    Pipeline("tdx", TdxCheck),
    Pipeline("gpu", GpuCheck),
    Pipeline("tpm", TpmCheck),
    Pipeline("azure", AzureCheck),
    Pipeline("evidence", EvidenceCheck, (PCR_CHECK, SERVICE_CHECK)),
    Pipeline("response", ResponseCheck),
    Pipeline("zk", ZkCheck),
)
