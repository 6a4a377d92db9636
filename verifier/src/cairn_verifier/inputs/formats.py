"""The registry of named input formats: what ``cairn show|verify snp|tdx|gpu`` recognise.

Every format has a strict detector (in :mod:`.outer`, :mod:`.snp`, :mod:`.tdx`, :mod:`.gpu`,
:mod:`.foreign`); this table names them, states each detector's rule in one sentence and points
at a real file that shows the format, so that ``docs/inputs.md``, the code and the tests speak of
the same things (``tests/verifier/inputs/test_registry.py`` checks that they do).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from ..records import Record


class Role(StrEnum):
    """Where a format sits in the chain, or why it is named at all."""

    ENCODING = "encoding"
    ENVELOPE = "JSON envelope"
    CONTAINER = "container"
    REFUSED = "recognised and refused"


class InputFormat(Record):
    """One named format: registry name, role, commands that accept it, detector rule, example."""

    name: str
    role: Role
    platforms: tuple[str, ...]
    rule: str
    example: str | None
    """A file in this repository that is in this format, or None when no real sample exists
    here (the tests then build one from a real report or quote, as the format's source says)."""

    __slots__ = ("example", "name", "platforms", "role", "rule")

    def __init__(
        self, name: str, role: Role, platforms: tuple[str, ...], rule: str, example: str | None
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "platforms", platforms)
        object.__setattr__(self, "rule", rule)
        object.__setattr__(self, "example", example)


_V = "tests/vectors"

FORMATS: tuple[InputFormat, ...] = (
    InputFormat(
        "raw",
        Role.ENCODING,
        ("snp", "tdx", "gpu"),
        "some byte is outside printable ASCII and whitespace",
        f"{_V}/snp/go-sev-guest/attestation.bin",
    ),
    InputFormat(
        "hex",
        Role.ENCODING,
        ("snp", "tdx", "gpu"),
        "printable text that is, without whitespace and an optional 0x, an even number of hex "
        "digits",
        f"{_V}/tdx/dcap-qvl/sample/tdx-quote.hex",
    ),
    InputFormat(
        "base64",
        Role.ENCODING,
        ("snp", "tdx", "gpu"),
        "printable text in the standard base64 alphabet (padded or not, wrapped or not)",
        f"{_V}/snp/routex-client-lua/report-genoa-v3.b64",
    ),
    InputFormat(
        "base64url",
        Role.ENCODING,
        ("snp", "tdx", "gpu"),
        "printable text in the URL-safe base64 alphabet (-_ instead of +/)",
        None,
    ),
    InputFormat(
        "pem",
        Role.ENCODING,
        ("snp", "tdx", "gpu"),
        "exactly one -----BEGIN LABEL----- block (text around it is ignored; CERTIFICATE and "
        "X509 CRL blocks are refused, see below)",
        f"{_V}/snp/openpcc/gce_sevsnp_report.txt",
    ),
    InputFormat(
        "json-byte-array",
        Role.ENVELOPE,
        ("snp", "tdx"),
        "the text is a JSON array whose every element is an integer 0-255 (NEAR mpc's quote.json)",
        None,
    ),
    InputFormat(
        "json-byte-array-field",
        Role.ENVELOPE,
        ("snp", "tdx"),
        "a JSON object with exactly one known evidence member, holding an array of integers "
        "0-255 (trustee's Azure evidence: report, td_quote)",
        f"{_V}/tdx/trustee-azure/evidence-v0.json",
    ),
    InputFormat(
        "json-hex-field",
        Role.ENVELOPE,
        ("snp", "tdx"),
        "a JSON object with exactly one known evidence member, holding hex text (dstack "
        "GetQuote: quote; Phala / NEAR AI: intel_quote; dstack-util quote-report: attestation)",
        None,
    ),
    InputFormat(
        "json-base64-field",
        Role.ENVELOPE,
        ("snp", "tdx"),
        "a JSON object with exactly one known evidence member, holding base64 or base64url text",
        f"{_V}/snp/trustee/az-snp-vtpm_evidence-v1.json",
    ),
    InputFormat(
        "snp-report",
        Role.CONTAINER,
        ("snp",),
        "exactly 1184 bytes (AMD SEV-SNP ABI ATTESTATION_REPORT)",
        f"{_V}/snp/go-sev-guest/attestation.bin",
    ),
    InputFormat(
        "report+cert-table",
        Role.CONTAINER,
        ("snp",),
        "a 1184-byte report followed by a GHCB certificate table (GUID entries, all-zero "
        "terminator, the certificates; every other byte zero): the extended report of "
        "SNP_GET_EXT_REPORT / configfs-tsm auxblob, as go-sev-guest's attest -extended writes it",
        None,
    ),
    InputFormat(
        "azure-hcl",
        Role.CONTAINER,
        ("snp",),
        "starts with 'HCLA': an Azure vTPM HCL report, report at offset 0x20, report type 2 "
        "(SEV-SNP)",
        f"{_V}/snp/trustee/az-snp-vtpm_hcl-report.bin",
    ),
    InputFormat(
        "dstack-snp",
        Role.CONTAINER,
        ("snp",),
        "starts with 00 03 81 12: dstack's SCALE-encoded VersionedAttestation V0 holding "
        "AttestationQuote::DstackAmdSevSnp, report at offset 4",
        None,
    ),
    InputFormat(
        "oak-evidence-protobuf",
        Role.CONTAINER,
        ("snp",),
        "a protobuf oak.attestation.v1.Evidence whose root_layer (field 1) names platform "
        "AMD_SEV_SNP and holds the 1184-byte report in remote_attestation_report (field 1.2)",
        f"{_V}/snp/oak/turin_oc_evidence.binarypb",
    ),
    InputFormat(
        "tdx-quote",
        Role.CONTAINER,
        ("tdx",),
        "a DCAP quote header: attestation key type 2 or 3 at offset 2 and TEE type 0x81 at "
        "offset 4 (version 4 or 5 is then required); bytes after the quote are reported, not read",
        f"{_V}/tdx/dcap-qvl/sample/tdx_quote",
    ),
    InputFormat(
        "dstack-tdx",
        Role.CONTAINER,
        ("tdx",),
        "starts with 00 00 or 00 01: dstack's SCALE-encoded VersionedAttestation V0 holding "
        "AttestationQuote::DstackTdx (or DstackGcpTdx), quote after its compact length",
        None,
    ),
    InputFormat(
        "spdm-report",
        Role.CONTAINER,
        ("gpu",),
        "starts with 11 e0: an NVIDIA attestation report (SPDM 1.1 GET_MEASUREMENTS request and "
        "response), read by structure; its certificate chain comes from --certs",
        f"{_V}/gpu/go-nvattest-tools/testing/testdata/test_raw_gpu_attestation_report.dat",
    ),
    InputFormat(
        "nvidia-evidence-list",
        Role.ENVELOPE,
        ("gpu",),
        "a JSON array of objects with evidence (base64 or hex) and certificate (base64 of the "
        "PEM chain) members, arch and nonce optional: NVIDIA's attestation SDK and nvtrust",
        f"{_V}/gpu/nvtrust/gpu_evidence.json",
    ),
    InputFormat(
        "nvidia-nras-request",
        Role.ENVELOPE,
        ("gpu",),
        "a JSON object with an evidence_list array of {evidence, certificate} (nonce and arch "
        "beside it): the request NVIDIA's remote attestation service takes",
        None,
    ),
    InputFormat(
        "nvattest-tools-json",
        Role.ENVELOPE,
        ("gpu",),
        "a JSON object with a gpus array (and nvswitches) of jsonpickled nvtrust objects: "
        "AttestationReport {py/b64} and CertificateChains (go-nvattest-tools)",
        f"{_V}/gpu/go-nvattest-tools/testing/testdata/test_ppcie_data.json",
    ),
    InputFormat(
        "trustee-nvidia-evidence",
        Role.ENVELOPE,
        ("gpu",),
        "a JSON object with a device_evidence_list array of {arch, uuid, evidence, "
        "certificate} (trustee's NVIDIA attester)",
        None,
    ),
    InputFormat(
        "privasys-pgae",
        Role.CONTAINER,
        ("gpu",),
        "starts with PGAE and version 1: Privasys' TLV envelope (nonce, report, PEM chain, "
        "UUID, versions, CC mode)",
        None,
    ),
    InputFormat(
        "nvidia-gpu-evidence",
        Role.REFUSED,
        ("snp", "tdx"),
        "a JSON array of objects with evidence and certificate members (nvtrust, NVIDIA "
        "attestation SDK) or an object with a gpus array (go-nvattest-tools)",
        f"{_V}/gpu/nvtrust/gpu_evidence.json",
    ),
    InputFormat(
        "nvidia-attestation-result",
        Role.REFUSED,
        ("snp", "tdx"),
        "a JSON object with claims and detached_eat members (an NVIDIA verifier's result)",
        f"{_V}/gpu/dstack/gpu_attestation_h100.json",
    ),
    InputFormat(
        "cairn-evidence-bundle",
        Role.REFUSED,
        ("snp", "tdx"),
        'a JSON object with "format": "cairn-evidence" (use cairn verify evidence)',
        None,
    ),
    InputFormat(
        "tdx-collateral",
        Role.REFUSED,
        ("snp", "tdx"),
        "a Cairn collateral bundle, dcap-qvl collateral JSON or an Intel PCS TCB info / QE "
        "identity response (pass it with --collateral)",
        f"{_V}/tdx/dcap-qvl/sample/tdx_quote_collateral.json",
    ),
    InputFormat(
        "x509",
        Role.REFUSED,
        ("snp", "tdx"),
        "a PEM CERTIFICATE or X509 CRL block, or a DER certificate or CRL",
        f"{_V}/snp/go-sev-guest/vcek.testcer",
    ),
    InputFormat(
        "sgx-quote",
        Role.REFUSED,
        ("snp", "tdx"),
        "a DCAP quote header with TEE type 0 (an SGX enclave quote)",
        None,
    ),
    InputFormat(
        "oak-endorsements-protobuf",
        Role.REFUSED,
        ("snp", "tdx"),
        "a protobuf oak.attestation.v1.Endorsements holding a TEE certificate (pass it with "
        "--certs to cairn verify snp)",
        f"{_V}/snp/oak/turin_oc_endorsements.binarypb",
    ),
)

BY_NAME: Mapping[str, InputFormat] = MappingProxyType({f.name: f for f in FORMATS})


def known(name: str) -> str:
    """``name`` if the registry has it (a guard against typos in detectors)."""
    if name not in BY_NAME:
        raise KeyError(f"input format {name!r} is not in the registry")
    return name
