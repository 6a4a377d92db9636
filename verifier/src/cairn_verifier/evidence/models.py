"""Evidence bundle v1 and v2: the JSON document the Cairn agent hands to a verifier.

Layout (``docs/spec/evidence-bundle.md``; JSON Schema ``docs/spec/evidence-bundle.schema.json``)::

    {"format": "cairn-evidence", "version": 1 | 2,
     "tee": {"kind": ..., "report": b64, "certificates": [b64 DER], "collateral": b64 | null,
             "event_log": b64 | null (version 2, TDX kinds only: the TD's CCEL)},
     "tpm": null | {"quote": b64, "signature": b64, "ak_public": b64,
                    "pcrs": {"sha256": {"0": hex, ...}}, "event_log": b64 | null},
     "claims": {"nonce": hex32, "system": {"store_path": str, "hash": hex32},
                "services": [{"name", "store_path", "public_key": hex}], "tree_root": hex32,
                "gpu_digest": hex32 | null, "report_data_version": 1 | 2},
     "agent": {"version": str, "simulated": bool}}

Validation is strict: unknown fields, duplicate JSON keys, non-canonical base64 or hex, wrong
sizes and inconsistent fields are a :class:`MalformedInputError`. Whether the claims are *true*
(system hash, tree root, REPORT_DATA) is for the verification pipeline to check.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import ErrorDetails, core_schema

from ..binding.gpu_digest import MAX_DEVICES as GPU_MAX_DEVICES
from ..binding.gpu_digest import GpuDeviceBytes, gpu_digest
from ..binding.poseidon2 import P
from ..binding.report_data import ReportDataInputs
from ..binding.services import SERVICE_NAME_PATTERN, ServiceEntry, public_key_coordinates
from ..binding.system_hash import validate_store_path
from ..documents import parse_json
from ..errors import CairnError, MalformedInputError
from ..inputs.base import Platform
from ..policy import describe_errors
from ..tpm.quote import ak_digest
from ..x509.der import SEQUENCE, parse_single
from .kinds import TEE_KINDS, TeeKind

EVIDENCE_FORMAT: Final = "cairn-evidence"
EVIDENCE_VERSION: Final = 2
"""The newest version this verifier reads (and the agent writes when it uses what v2 added)."""
EVIDENCE_VERSIONS: Final = (1, 2)
"""Every version this verifier reads: v2 is v1 plus the optional ``tee.event_log``."""
TEE_EVENT_LOG_VERSION: Final = 2
"""The first bundle version with ``tee.event_log``."""
MAX_EVIDENCE_BYTES: Final = 128 * 1024 * 1024
SCHEMA_ID: Final = "https://cairn.invalid/spec/evidence-bundle.schema.json"
COMPONENT: Final = "evidence"

PcrBank = Literal["sha1", "sha256", "sha384", "sha512"]
PCR_DIGEST_BYTES: Final[dict[str, int]] = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}

_KIB: Final = 1024
_MIB: Final = 1024 * _KIB
_HEX: Final = re.compile(r"(?:[0-9a-f]{2})*")
_FROM_JSON: Final = "cairn-from-json"
"""Validation context key set by :func:`load_evidence`: values come from a JSON document."""


# --- encoded byte strings -----------------------------------------------------------------------


def _from_base64(value: object) -> object:
    """Decode canonical standard base64 text; bytes pass through (Python construction)."""
    if not isinstance(value, str):
        return value
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64 (standard alphabet, padded)") from None
    if base64.b64encode(decoded).decode("ascii") != value:
        raise ValueError("not canonical base64 (use standard padding, no line breaks)")
    return decoded


def _decode_hex(text: str) -> bytes:
    if not _HEX.fullmatch(text):
        raise ValueError("not lowercase hex with an even number of digits (no 0x prefix)")
    return bytes.fromhex(text)


def _from_hex(value: object) -> object:
    """Decode lowercase hex text; bytes pass through (Python construction)."""
    return _decode_hex(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class _Encoded:
    """Annotated marker: bytes carried in JSON as text (base64 or hex), size-checked."""

    encoding: Literal["base64", "hex"]
    sizes: tuple[int, ...]
    """Allowed decoded sizes: for base64 the (min, max) range, for hex the exact sizes."""
    description: str

    def _check(self, value: bytes) -> bytes:
        if self.encoding == "base64":
            low, high = self.sizes
            if not low <= len(value) <= high:
                raise ValueError(f"must decode to {low}..{high} bytes, got {len(value)}")
        elif len(value) not in self.sizes:
            want = " or ".join(str(s) for s in self.sizes)
            raise ValueError(f"must be {want} bytes, got {len(value)}")
        return value

    def _encode(self, value: bytes) -> str:
        return base64.b64encode(value).decode("ascii") if self.encoding == "base64" else value.hex()

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        decode = _from_base64 if self.encoding == "base64" else _from_hex
        return core_schema.no_info_before_validator_function(
            decode,
            core_schema.no_info_after_validator_function(self._check, handler(source)),
            serialization=core_schema.plain_serializer_function_ser_schema(
                self._encode, return_schema=core_schema.str_schema()
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        if self.encoding == "hex":
            alternatives = "|".join(f"[0-9a-f]{{{2 * s}}}" for s in self.sizes)
            return {
                "type": "string",
                "pattern": f"^(?:{alternatives})$",
                "description": self.description,
            }
        low, high = self.sizes
        return {
            "type": "string",
            "contentEncoding": "base64",
            "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
            "minLength": 4 * ((low + 2) // 3),
            "maxLength": 4 * ((high + 2) // 3),
            "description": f"{self.description}: standard base64 of {low}..{high} bytes",
        }


def _b64(description: str, max_bytes: int) -> _Encoded:
    return _Encoded("base64", (1, max_bytes), description)


def _hex(description: str, *sizes: int) -> _Encoded:
    return _Encoded("hex", sizes, description)


def _field_from_hex(value: object, info: ValidationInfo) -> object:
    """Hex text to int; an int passes only when constructing in Python, never from JSON."""
    if not isinstance(value, str):
        if isinstance(info.context, dict) and info.context.get(_FROM_JSON):
            raise ValueError("must be a string of 64 lowercase hex digits")
        return value
    decoded = _decode_hex(value)
    if len(decoded) != 32:
        raise ValueError(f"must be 32 bytes, got {len(decoded)}")
    return int.from_bytes(decoded, "big")


def _exact_int(value: object) -> object:
    """Refuse ``true`` and ``1.0`` where the integer 1 is meant (``Literal`` compares with ==)."""
    if type(value) is not int:
        raise ValueError(f"must be an integer, got {type(value).__name__}")
    return value


BundleVersion = Annotated[Literal[1, 2], BeforeValidator(_exact_int)]
ReportDataVersion = Annotated[Literal[1, 2], BeforeValidator(_exact_int)]


def _below_p(value: int) -> int:
    if not 0 <= value < P:
        raise ValueError("is not a BN254 field element (must be below the field modulus)")
    return value


def _not_absent(value: bytes | None) -> bytes | None:
    if value == bytes(32):
        raise ValueError("32 zero bytes encode 'no GPU evidence': use null instead")
    return value


def _der_sequence(value: bytes) -> bytes:
    try:
        parse_single(value, "certificate").expect(SEQUENCE, "certificate")
    except CairnError as exc:
        raise ValueError(f"not a DER certificate ({exc.message})") from None
    return value


def _store_path(value: str) -> str:
    try:
        return validate_store_path(value)
    except MalformedInputError as exc:
        raise ValueError(exc.message) from None


def _sec1_point(value: bytes) -> bytes:
    try:
        public_key_coordinates(value)
    except MalformedInputError as exc:
        raise ValueError(exc.message) from None
    return value


Hex32 = Annotated[bytes, _hex("32 bytes as 64 lowercase hex digits", 32)]
FieldHex = Annotated[
    int,
    BeforeValidator(_field_from_hex),
    AfterValidator(_below_p),
    PlainSerializer(lambda v: f"{v:064x}", return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "a BN254 field element: 32 bytes big-endian as lowercase hex",
        }
    ),
]
StorePath = Annotated[
    str,
    AfterValidator(_store_path),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^/nix/store/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]{1,211}$",
            "description": "a Nix store path (docs/spec/system-hash.md)",
        }
    ),
]
Certificate = Annotated[
    bytes, _b64("a DER X.509 certificate", 64 * _KIB), AfterValidator(_der_sequence)
]
PublicKeyHex = Annotated[
    bytes,
    _hex("SEC1 secp256k1 public key: compressed (33 B) or uncompressed (65 B)", 33, 65),
    AfterValidator(_sec1_point),
]
PcrIndex = Annotated[str, StringConstraints(pattern=r"^(?:[0-9]|1[0-9]|2[0-3])$")]
PcrDigest = Annotated[bytes, _hex("a PCR value (20, 32, 48 or 64 bytes by bank)", 20, 32, 48, 64)]


# --- models -------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TeeEvidence(_Strict):
    """The TEE's signed report and what is needed to check its signature."""

    # The shape every kind shares on the wire, which the published schema describes. A bundle
    # holds one of the kinds below (AnyTeeEvidence, chosen by ``kind``), each of which narrows
    # it; a plain TeeEvidence put in a bundle is validated again as its kind's model.

    kind: TeeKind
    report: Annotated[
        bytes,
        _b64("raw SEV-SNP report, TDX quote, or Azure HCL report (then the TD quote)", _MIB),
    ]
    certificates: list[Certificate] = Field(default_factory=list, max_length=16)
    collateral: (
        Annotated[bytes, _b64("TDX: Intel collateral in dcap-qvl JSON form", 64 * _MIB)] | None
    ) = None
    event_log: (
        Annotated[
            bytes,
            _b64(
                "TDX (bundle version 2): the TD's CCEL, the firmware's event log of the RTMRs "
                "(/sys/firmware/acpi/tables/data/CCEL)",
                16 * _MIB,
            ),
        ]
        | None
    ) = None

    # What each kind is, stated once on its model (never by comparing kind strings elsewhere).
    platform: ClassVar[Platform]
    """The hardware evidence ``report`` holds: an SEV-SNP report (bare, or inside Azure's HCL
    report) or a TDX quote."""
    simulated: ClassVar[bool] = False
    """Made by a simulated platform: ``agent.simulated`` must say so, and only a root the user
    names (``--trust-simulated-root``) can make it trusted."""
    needs_tpm: ClassVar[str | None] = None
    """Why a bundle of this kind must carry ``tpm`` evidence (None: it need not)."""
    measures_command_line: ClassVar[bool] = False
    """The launch measurement covers the kernel command line, so reference values that record
    it link the measurement to the system that booted (SEV-SNP with kernel hashes; TDX measures
    the command line into RTMRs, for which Cairn has no reference values yet; Azure's launch
    measurement covers its paravisor, not the guest)."""
    claims_in_tpm_quote: ClassVar[bool] = False
    """The guest cannot choose REPORT_DATA (Azure): the claims digest travels in the TPM quote's
    extraData instead, and ``report`` is an Azure HCL report (followed by the TD quote on TDX)
    whose runtime data names the attestation key (docs/spec/azure-vtpm-v1.md)."""
    takes_event_log: ClassVar[bool] = False
    """``event_log`` (a TD's CCEL) is replayed against the RTMRs of ``report``, a TD quote
    (``rtmr-event-log``); kinds that do not replay one refuse it."""

    @model_serializer(mode="wrap")
    def _omit_absent_event_log(self, handler: SerializerFunctionWrapHandler) -> Any:
        """``event_log`` is written only when present: a bundle without one is byte for byte
        the version 1 document it was before version 2 added the field."""
        data = handler(self)
        if self.event_log is None and isinstance(data, dict):
            data.pop("event_log", None)
        return data


def _no_collateral(value: object, info: ValidationInfo) -> None:
    if value is not None:
        kind = info.data.get("kind", "this")
        raise ValueError(
            f"collateral is defined for TDX quotes only; a {kind} verifier would "
            "ignore it (give SEV-SNP certificates in tee.certificates)"
        )


NoCollateral = Annotated[None, BeforeValidator(_no_collateral)]
"""Kinds whose verifier reads no collateral from the bundle refuse one (silently ignoring it
would let a reader believe it was checked)."""


def _no_event_log(value: object, info: ValidationInfo) -> None:
    if value is not None:
        kind = info.data.get("kind", "this")
        raise ValueError(
            f"event_log is defined for TDX quotes (kinds tdx, tdx-simulated) only; a {kind} "
            "verifier would not replay it (a TPM's log goes in tpm.event_log)"
        )


NoEventLog = Annotated[None, BeforeValidator(_no_event_log)]
"""Kinds whose verifier replays no TD event log refuse one (as :data:`NoCollateral`)."""


class SevSnpEvidence(TeeEvidence):
    """An SEV-SNP attestation report; ``certificates``: its VCEK/VLEK, ASK and ARK, if sent."""

    kind: Literal["sev-snp"] = "sev-snp"
    event_log: NoEventLog = None
    collateral: NoCollateral = None
    platform: ClassVar[Platform] = Platform.SNP
    measures_command_line: ClassVar[bool] = True


class SimulatedSevSnpEvidence(TeeEvidence):
    """A report of the agent's simulated SEV-SNP platform, with its simulated chain."""

    kind: Literal["sev-snp-simulated"] = "sev-snp-simulated"
    event_log: NoEventLog = None
    collateral: NoCollateral = None
    platform: ClassVar[Platform] = Platform.SNP
    simulated: ClassVar[bool] = True
    measures_command_line: ClassVar[bool] = True


class TdxEvidence(TeeEvidence):
    """A TDX DCAP quote (it carries its PCK chain) and, optionally, Intel collateral."""

    kind: Literal["tdx"] = "tdx"
    platform: ClassVar[Platform] = Platform.TDX
    takes_event_log: ClassVar[bool] = True


class SimulatedTdxEvidence(TeeEvidence):
    """A quote of the agent's simulated TDX platform, with its simulated collateral."""

    kind: Literal["tdx-simulated"] = "tdx-simulated"
    platform: ClassVar[Platform] = Platform.TDX
    takes_event_log: ClassVar[bool] = True
    simulated: ClassVar[bool] = True


_VTPM_QUOTE = "the vTPM quote, which carries the claims digest"


class AzureSevSnpVtpmEvidence(TeeEvidence):
    """An Azure confidential VM's HCL report (an SEV-SNP report over the vTPM's key);
    ``certificates``: its VCEK (and ASK, ARK), if sent."""

    kind: Literal["azure-sev-snp-vtpm"] = "azure-sev-snp-vtpm"
    event_log: NoEventLog = None
    collateral: NoCollateral = None
    platform: ClassVar[Platform] = Platform.SNP
    needs_tpm: ClassVar[str | None] = _VTPM_QUOTE
    claims_in_tpm_quote: ClassVar[bool] = True


class SimulatedAzureSevSnpVtpmEvidence(TeeEvidence):
    """An HCL report a test or demo wrote into a (software) TPM, over a simulated SEV-SNP
    report: the Azure formats, nothing of Azure's or AMD's hardware."""

    kind: Literal["azure-sev-snp-vtpm-simulated"] = "azure-sev-snp-vtpm-simulated"
    event_log: NoEventLog = None
    collateral: NoCollateral = None
    platform: ClassVar[Platform] = Platform.SNP
    simulated: ClassVar[bool] = True
    needs_tpm: ClassVar[str | None] = _VTPM_QUOTE
    claims_in_tpm_quote: ClassVar[bool] = True


class AzureTdxVtpmEvidence(TeeEvidence):
    """An Azure confidential VM's HCL report (a TD report over the vTPM's key) followed by the
    TD quote Azure's quote endpoint made from it; ``collateral``: Intel's, if sent."""

    kind: Literal["azure-tdx-vtpm"] = "azure-tdx-vtpm"
    event_log: NoEventLog = None
    platform: ClassVar[Platform] = Platform.TDX
    needs_tpm: ClassVar[str | None] = _VTPM_QUOTE
    claims_in_tpm_quote: ClassVar[bool] = True


class SimulatedAzureTdxVtpmEvidence(TeeEvidence):
    """An HCL report a test or demo wrote into a (software) TPM, with a simulated TD quote."""

    kind: Literal["azure-tdx-vtpm-simulated"] = "azure-tdx-vtpm-simulated"
    event_log: NoEventLog = None
    platform: ClassVar[Platform] = Platform.TDX
    simulated: ClassVar[bool] = True
    needs_tpm: ClassVar[str | None] = _VTPM_QUOTE
    claims_in_tpm_quote: ClassVar[bool] = True


def _as_fields(value: object) -> object:
    """A TEE evidence model instance is validated again, as the model of its ``kind``."""
    if isinstance(value, TeeEvidence):
        return {name: getattr(value, name) for name in type(value).model_fields}
    return value


AnyTeeEvidence = Annotated[
    SevSnpEvidence
    | SimulatedSevSnpEvidence
    | TdxEvidence
    | SimulatedTdxEvidence
    | AzureSevSnpVtpmEvidence
    | AzureTdxVtpmEvidence
    | SimulatedAzureSevSnpVtpmEvidence
    | SimulatedAzureTdxVtpmEvidence,
    Discriminator("kind"),
    BeforeValidator(_as_fields),
]
"""TEE evidence of one kind: a tagged union on ``kind`` (one model per :data:`TeeKind`)."""

TEE_MODELS: Final[Mapping[str, type[TeeEvidence]]] = {
    model.model_fields["kind"].default: model for model in get_args(get_args(AnyTeeEvidence)[0])
}
"""The model of each kind, by kind."""


def tee_model(kind: TeeKind) -> type[TeeEvidence]:
    """The model of ``kind``: what the kind is (``platform``, ``simulated``, …)."""
    return TEE_MODELS[kind]


@cache
def _tee_adapter() -> TypeAdapter[AnyTeeEvidence]:
    return TypeAdapter(AnyTeeEvidence)


def tee_evidence(
    kind: TeeKind,
    report: bytes,
    certificates: Sequence[bytes] = (),
    collateral: bytes | None = None,
    event_log: bytes | None = None,
) -> AnyTeeEvidence:
    """The evidence model of ``kind`` (pydantic's ``ValidationError`` if the parts do not fit)."""
    fields = {"kind": kind, "report": report, "certificates": list(certificates)}
    return _tee_adapter().validate_python(
        fields | {"collateral": collateral, "event_log": event_log}
    )


class TpmEvidence(_Strict):
    """A TPM quote over PCRs, its signature and the attestation key that made it."""

    quote: Annotated[bytes, _b64("TPMS_ATTEST", 4 * _KIB)]
    signature: Annotated[bytes, _b64("TPMT_SIGNATURE", 4 * _KIB)]
    ak_public: Annotated[bytes, _b64("TPMT_PUBLIC of the attestation key", 4 * _KIB)]
    pcrs: dict[PcrBank, dict[PcrIndex, PcrDigest]] = Field(min_length=1)
    event_log: Annotated[bytes, _b64("TCG event log", 16 * _MIB)] | None = None

    @model_validator(mode="after")
    def _digest_sizes(self) -> TpmEvidence:
        for bank, values in self.pcrs.items():
            if not values:
                raise ValueError(f"PCR bank {bank} lists no PCRs")
            want = PCR_DIGEST_BYTES[bank]
            for index, digest in values.items():
                if len(digest) != want:
                    raise ValueError(f"PCR {bank}:{index} must be {want} bytes, got {len(digest)}")
        return self

    @property
    def ak_digest(self) -> bytes:
        """What REPORT_DATA commits to (:func:`~cairn_verifier.tpm.quote.ak_digest`: SHA-256
        of the AK's TPMT_PUBLIC); ParseError when ``ak_public`` is none."""
        return ak_digest(self.ak_public)


class SystemClaim(_Strict):
    """The NixOS system (``/run/current-system``) and its claimed system hash."""

    store_path: StorePath
    hash: Hex32


class ServiceClaim(_Strict):
    """One service: its name, package store path and secp256k1 public key."""

    name: Annotated[str, StringConstraints(pattern=SERVICE_NAME_PATTERN)]
    store_path: StorePath
    public_key: PublicKeyHex

    def entry(self) -> ServiceEntry:
        return ServiceEntry(self.name, self.store_path, self.public_key)


class Claims(_Strict):
    """What the agent claims and committed to in REPORT_DATA."""

    nonce: Hex32
    system: SystemClaim
    services: list[ServiceClaim] = Field(max_length=4096)
    tree_root: FieldHex
    gpu_digest: Annotated[Hex32 | None, AfterValidator(_not_absent)]
    report_data_version: ReportDataVersion

    @model_validator(mode="after")
    def _unique_names(self) -> Claims:
        seen: set[str] = set()
        for service in self.services:
            if service.name in seen:
                raise ValueError(f"service name {service.name!r} appears more than once")
            seen.add(service.name)
        return self


class AgentInfo(_Strict):
    """The agent that produced the bundle."""

    version: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    simulated: bool


class GpuDeviceEvidence(_Strict):
    """One GPU's or NVSwitch's SPDM attestation report and its certificate chain (DER, leaf
    first, as NVML returns it; the pinned root may be there or not)."""

    report: Annotated[
        bytes, _b64("NVIDIA attestation report (SPDM 1.1 GET_MEASUREMENTS)", 64 * _KIB)
    ]
    certificates: list[Certificate] = Field(min_length=1, max_length=8)


class GpuEvidence(_Strict):
    """The GPU evidence the agent collected for the verifier's nonce (docs/spec/gpu-evidence-v1.md):
    ``claims.gpu_digest`` is its digest."""

    devices: list[GpuDeviceEvidence] = Field(min_length=1, max_length=GPU_MAX_DEVICES)

    def digest_input(self) -> list[GpuDeviceBytes]:
        """The devices as :func:`~cairn_verifier.binding.gpu_digest.gpu_digest` hashes them."""
        return [GpuDeviceBytes(d.report, tuple(d.certificates)) for d in self.devices]

    def digest(self) -> bytes:
        return gpu_digest(self.digest_input())


class EvidenceBundle(_Strict):
    """A whole evidence bundle (version 1, or 2 when it carries ``tee.event_log``)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        title="Cairn evidence bundle v1 and v2",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SCHEMA_ID,
        },
    )

    format: Literal["cairn-evidence"]
    version: BundleVersion
    tee: AnyTeeEvidence
    tpm: TpmEvidence | None
    claims: Claims
    agent: AgentInfo
    gpu: GpuEvidence | None = None
    """Omitted (not null) when there is none, so bundles without GPUs stay readable by verifiers
    that predate it."""

    @model_validator(mode="after")
    def _consistent(self) -> EvidenceBundle:
        if self.tee.simulated != self.agent.simulated:
            raise ValueError(
                f"tee.kind {self.tee.kind!r} and agent.simulated={self.agent.simulated} disagree"
            )
        if self.tee.needs_tpm is not None and self.tpm is None:
            raise ValueError(f"an {self.tee.kind} bundle needs tpm evidence ({self.tee.needs_tpm})")
        if self.tee.event_log is not None and self.version < TEE_EVENT_LOG_VERSION:
            raise ValueError(
                f"tee.event_log was added in bundle version {TEE_EVENT_LOG_VERSION}; a version "
                f"{self.version} bundle cannot carry it (a version 1 reader would refuse it)"
            )
        return self

    def service_entries(self) -> list[ServiceEntry]:
        """The claimed services as :class:`ServiceEntry` values, in bundle order."""
        return [service.entry() for service in self.claims.services]

    def report_data_inputs(self) -> ReportDataInputs:
        """REPORT_DATA inputs from the claims as stated (the pipeline checks they are true)."""
        return ReportDataInputs(
            nonce=self.claims.nonce,
            system_hash=self.claims.system.hash,
            tree_root=self.claims.tree_root,
            gpu_digest=self.claims.gpu_digest,
            ak_digest=None if self.tpm is None else self.tpm.ak_digest,
        )


# --- reading and writing ------------------------------------------------------------------------


UNKNOWN_KIND_HINT = (
    "tee.kind names a kind this verifier does not know: a newer agent may send kinds added "
    "since (docs/spec/README.md, versioning rules); upgrade cairn-verifier, or configure the "
    "agent with a provider this verifier reads (docs/spec/evidence-bundle.md lists the kinds)"
)


def load_evidence(data: bytes, source: str = "evidence bundle") -> EvidenceBundle:
    """Parse and validate an evidence bundle; any defect is a :class:`MalformedInputError`."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedInputError(f"{source} must be bytes", component=COMPONENT)
    if len(data) > MAX_EVIDENCE_BYTES:
        raise MalformedInputError(
            f"{source} is {len(data)} bytes, more than the {MAX_EVIDENCE_BYTES} allowed",
            component=COMPONENT,
        )
    document = parse_json(bytes(data), source, component=COMPONENT)
    if not isinstance(document, dict) or document.get("format") != EVIDENCE_FORMAT:
        raise MalformedInputError(
            f'{source} is not a Cairn evidence bundle (no "format": "{EVIDENCE_FORMAT}")',
            component=COMPONENT,
            hint="pass the JSON file the Cairn agent wrote",
        )
    version = document.get("version")
    if type(version) is not int or version not in EVIDENCE_VERSIONS:
        raise MalformedInputError(
            f"{source} has evidence bundle version {version!r:.20}; "
            f"this verifier reads versions {' and '.join(map(str, EVIDENCE_VERSIONS))}",
            component=COMPONENT,
            hint="upgrade cairn-verifier or the agent so that both speak the same version",
        )
    try:
        return EvidenceBundle.model_validate(document, context={_FROM_JSON: True})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        unknown_kind = any(e["type"] == "union_tag_invalid" for e in errors)
        raise MalformedInputError(
            f"{source} is not a valid Cairn evidence bundle: "
            + describe_errors([_untagged(e) for e in errors], limit=5, top="(document)"),
            component=COMPONENT,
            hint=UNKNOWN_KIND_HINT
            if unknown_kind
            else "see docs/spec/evidence-bundle.md for the format",
        ) from None


def _untagged(error: ErrorDetails) -> ErrorDetails:
    """Name TEE fields as the document does: ``tee.report``, not pydantic's ``tee.sev-snp.report``
    (the tagged union puts the kind into the location), and an unknown kind ``tee.kind``."""
    loc, kind = error["loc"], error["type"]
    if loc[:1] != ("tee",):
        return error
    if kind == "union_tag_not_found":
        return {**error, "loc": ("tee", "kind"), "msg": "Field required"}
    if kind == "union_tag_invalid":
        *others, last = (repr(name) for name in TEE_KINDS)
        expected = f"Input should be {', '.join(others)} or {last}"
        return {**error, "loc": ("tee", "kind"), "msg": expected}
    if len(loc) > 1 and loc[1] in TEE_KINDS:
        return {**error, "loc": ("tee", *loc[2:])}
    return error


def dump_evidence(bundle: EvidenceBundle) -> bytes:
    """Canonical JSON encoding of ``bundle`` (indented, UTF-8, trailing newline)."""
    omit = {"gpu"} if bundle.gpu is None else None
    return (bundle.model_dump_json(indent=2, exclude=omit) + "\n").encode("utf-8")


class _PublishedSchema(GenerateJsonSchema):
    """Publishes ``tee`` as the one shape all kinds share (:class:`TeeEvidence`, ``kind`` an
    enum), as the schema always has; which fields a kind may fill is the loader's rule."""

    def tagged_union_schema(self, schema: core_schema.TaggedUnionSchema) -> JsonSchemaValue:
        if _of_tee_evidence(schema):
            return self.generate_inner(TeeEvidence.__pydantic_core_schema__)
        return super().tagged_union_schema(schema)

    def field_title_should_be_set(self, schema: Any) -> bool:  # a core schema or field
        if schema.get("type") == "tagged-union" and _of_tee_evidence(schema):
            return False  # a reference to a model, as before the union: no title beside it
        return super().field_title_should_be_set(schema)


def _of_tee_evidence(schema: Mapping[str, Any]) -> bool:
    choices = schema["choices"].values()
    return all(issubclass(choice.get("cls", object), TeeEvidence) for choice in choices)


def evidence_json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`EvidenceBundle` (what ``docs/spec`` publishes)."""
    return EvidenceBundle.model_json_schema(mode="validation", schema_generator=_PublishedSchema)


def render_json_schema() -> str:
    """The text of ``docs/spec/evidence-bundle.schema.json``."""
    return json.dumps(evidence_json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_json_schema(path: str | Path) -> None:
    """Regenerate the published schema file, e.g. ``docs/spec/evidence-bundle.schema.json``."""
    Path(path).write_text(render_json_schema(), encoding="utf-8")
