"""Project Oak's attestation protobufs (``proto/attestation/evidence.proto``, ``endorsement``).

``Evidence`` = {1 root_layer: RootLayerEvidence, 2 layers (repeated), 3 application_keys,
4 event_log, 5/6 later additions}; ``RootLayerEvidence`` = {1 platform: TeePlatform (0
unspecified, 1 AMD_SEV_SNP, 2 INTEL_TDX, 3 none), 2 remote_attestation_report: bytes,
3 eca_public_key: bytes}. Only the root layer is read; the DICE layers, application keys and event
log are Oak's own claims, which Cairn does not check.

``Endorsements`` is a oneof {1 oak_restricted_kernel, 2 oak_containers, 3 cb}; each holds a
``RootLayerEndorsements`` (field 1) whose field 1 ``tee_certificate`` is, for SEV-SNP, the DER
VCEK (older ``CBEndorsements`` put ``tee_certificate`` directly at field 1).
"""

from __future__ import annotations

from enum import IntEnum

from ..records import Record
from .protobuf import LENGTH_DELIMITED, VARINT, WireError, only, read_message, single

EVIDENCE_FIELDS = {1, 2, 3, 4, 5, 6}


class TeePlatform(IntEnum):
    UNSPECIFIED = 0
    AMD_SEV_SNP = 1
    INTEL_TDX = 2
    NONE = 3


class OakRootLayer(Record):
    platform: int
    report: bytes
    other_fields: tuple[int, ...]

    __slots__ = ("other_fields", "platform", "report")

    def __init__(self, platform: int, report: bytes, other_fields: tuple[int, ...]) -> None:
        object.__setattr__(self, "platform", platform)
        object.__setattr__(self, "report", report)
        object.__setattr__(self, "other_fields", other_fields)

    @property
    def platform_name(self) -> str:
        try:
            return TeePlatform(self.platform).name
        except ValueError:
            return f"unknown platform {self.platform}"


def read_oak_evidence(data: bytes) -> OakRootLayer:
    """The root layer of an ``oak.attestation.v1.Evidence``; WireError if it is not one."""
    fields = read_message(data)
    only(fields, EVIDENCE_FIELDS, "Evidence")
    if any(f.wire_type != LENGTH_DELIMITED for f in fields):
        raise WireError("every Evidence field is a message")
    root = single(fields, 1, LENGTH_DELIMITED, "Evidence.root_layer")
    if root is None:
        raise WireError("Evidence has no root_layer")
    assert isinstance(root.value, bytes)
    inner = read_message(root.value)
    only(inner, {1, 2, 3}, "RootLayerEvidence")
    platform = single(inner, 1, VARINT, "RootLayerEvidence.platform")
    report = single(inner, 2, LENGTH_DELIMITED, "RootLayerEvidence.remote_attestation_report")
    single(inner, 3, LENGTH_DELIMITED, "RootLayerEvidence.eca_public_key")
    if report is None:
        raise WireError("RootLayerEvidence has no remote_attestation_report")
    assert isinstance(report.value, bytes)
    value = platform.value if platform is not None else 0
    assert isinstance(value, int)
    others = tuple(sorted({f.number for f in fields} - {1}))
    return OakRootLayer(value, report.value, others)


_ENDORSEMENT_KINDS = {1: "oak_restricted_kernel", 2: "oak_containers", 3: "cb"}


def read_oak_tee_certificate(data: bytes) -> tuple[str, bytes]:
    """(kind, DER TEE certificate) of an ``oak.attestation.v1.Endorsements``; WireError if not."""
    fields = read_message(data)
    kinds = [f for f in fields if f.number in _ENDORSEMENT_KINDS]
    if len(kinds) != 1 or kinds[0].wire_type != LENGTH_DELIMITED:
        raise WireError("Endorsements must hold exactly one of its oneof type fields 1-3")
    kind = kinds[0]
    assert isinstance(kind.value, bytes)
    body = read_message(kind.value)
    root = single(body, 1, LENGTH_DELIMITED, "root_layer")
    if root is None:
        raise WireError("no root layer endorsements")
    assert isinstance(root.value, bytes)
    if root.value[:1] == b"\x30":  # CBEndorsements of old: tee_certificate directly
        return _ENDORSEMENT_KINDS[kind.number], root.value
    inner = read_message(root.value)
    cert = single(inner, 1, LENGTH_DELIMITED, "RootLayerEndorsements.tee_certificate")
    if cert is None or not isinstance(cert.value, bytes) or cert.value[:1] != b"\x30":
        raise WireError("RootLayerEndorsements holds no DER tee_certificate")
    return _ENDORSEMENT_KINDS[kind.number], cert.value
