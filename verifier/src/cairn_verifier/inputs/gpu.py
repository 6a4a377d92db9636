"""Reading NVIDIA GPU and NVSwitch evidence in the envelopes tools hand out.

Formats (:mod:`.formats` has each detector's rule; docs/inputs.md lists them):

* ``spdm-report``: one bare attestation report (SPDM GET_MEASUREMENTS request and response,
  starting ``11 e0``), raw, hex, base64 or in a PEM block; its certificate chain comes from
  ``--certs`` (without it the device has none, which verification refuses);
* ``nvidia-evidence-list``: NVIDIA's serialized evidence (attestation SDK, nvtrust PPCIe): a
  JSON array of ``{evidence, certificate, arch?, nonce?, …}`` — GPUs or NVSwitches;
* ``nvidia-nras-request``: the request NVIDIA's remote attestation service takes:
  ``{nonce, arch, evidence_list: [{evidence, certificate}], claims_version?}``;
* ``nvattest-tools-json``: go-nvattest-tools' test data (jsonpickle of nvtrust objects):
  ``{gpus: [...], nvswitches?: [...]}``;
* ``trustee-nvidia-evidence``: trustee's NVIDIA evidence, ``{device_evidence_list: [...]}``;
* ``privasys-pgae``: Privasys' binary ``PGAE`` v1 envelope (a TLV list).

``evidence`` is base64 or hex of the report (whichever reading starts like one); ``certificate``
is base64 of the PEM chain (or the PEM itself). Members Cairn does not read are listed in the
container, never guessed at. Nothing here is trusted: :mod:`cairn_verifier.gpu.verify` checks it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..documents import parse_json
from ..errors import MalformedInputError
from ..gpu.evidence import MAX_DEVICES, DeviceEvidence
from ..x509.cert import load_certificates
from .base import Layer, Layered, input_error
from .formats import known
from .text import BOM, BlobFormat, decode_text_candidates, is_text

WHAT: Final = "GPU evidence"
SPDM_START: Final = b"\x11\xe0"
PGAE_MAGIC: Final = b"PGAE"
ACCEPTED: Final = (
    "accepted: an NVIDIA attestation report (raw, hex, base64, PEM; chain with --certs), "
    "NVIDIA's JSON evidence list, an NRAS request, go-nvattest-tools or trustee JSON, or a "
    "Privasys PGAE envelope (docs/inputs.md)"
)


@dataclass(frozen=True)
class GpuEvidenceSet(Layered):
    """The devices found in an input and the formats they were found in."""

    devices: tuple[DeviceEvidence, ...]
    layers: tuple[Layer, ...]


def _error(message: str, hint: str | None = None) -> MalformedInputError:
    return input_error(message, WHAT, hint)


# --------------------------------------------------------------------------- field values


def report_bytes(value: Any, where: str) -> bytes:
    """An attestation report given as base64 or hex text: the reading that starts ``11 e0``."""
    if not isinstance(value, str) or not value or not value.isascii():
        raise _error(f"{where} is not base64 or hex text")
    try:
        readings = decode_text_candidates(value.encode("ascii"), f"{WHAT}: {where}")
    except MalformedInputError as error:
        raise _error(f"{where}: {error.message.split(': ', 1)[-1]}") from None
    reports = [r.data for r in readings if r.data.startswith(SPDM_START)]
    if len(reports) != 1:
        found = "both as hex and as base64" if reports else "in no reading"
        raise _error(
            f"{where} is an NVIDIA attestation report {found} (it must start with 11 e0)",
            hint="the evidence member holds the SPDM GET_MEASUREMENTS request and response",
        )
    return reports[0]


def chain_certificates(value: Any, where: str) -> tuple[bytes, ...]:
    """A PEM chain given as text or as base64 of the text: every certificate's DER."""
    if not isinstance(value, str) or not value.isascii():
        raise _error(f"{where} is not text")
    text = value.encode("ascii")
    if b"-----BEGIN" not in text:
        try:
            text = base64.b64decode("".join(value.split()), validate=True)
        except (binascii.Error, ValueError):
            raise _error(f"{where} is neither a PEM chain nor base64 of one") from None
    try:
        return tuple(cert.der for cert in load_certificates(text))
    except MalformedInputError as error:
        raise _error(f"{where}: {error.message}") from None


def _nonce(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise _error(f"{where} is not hex text")
    try:
        nonce = bytes.fromhex(value.strip())
    except ValueError:
        raise _error(f"{where} is not hex") from None
    if len(nonce) != 32:
        raise _error(f"{where} is {len(nonce)} bytes; an SPDM nonce is 32")
    return nonce


def _text_member(item: dict[str, Any], name: str, where: str) -> str | None:
    value = item.get(name)
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise _error(f"{where}.{name} is not text")
    return str(value)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _error(f"{where} is not a JSON object")
    return value


def _devices(items: Any, where: str) -> list[Any]:
    if not isinstance(items, list) or not items:
        raise _error(f"{where} is not a non-empty JSON array")
    if len(items) > MAX_DEVICES:
        raise _error(f"{where} lists {len(items)} devices; Cairn reads at most {MAX_DEVICES}")
    return items


def _not_read(item: dict[str, Any], read: Sequence[str]) -> list[str]:
    return [name for name in item if name not in read]


# --------------------------------------------------------------------------- JSON envelopes

_LIST_MEMBERS: Final = ("evidence", "certificate", "arch", "nonce", "uuid")
_SHOWN: Final = ("version", "driver_version", "vbios_version")


def _evidence_entry(
    item: Any, where: str, label: str, nonce: bytes | None, not_read: set[str]
) -> DeviceEvidence:
    entry = _object(item, where)
    for required in ("evidence", "certificate"):
        if required not in entry:
            raise _error(f"{where} has no {required!r} member")
    declared = _nonce(entry["nonce"], f"{where}.nonce") if "nonce" in entry else nonce
    shown = {k: v for k in _SHOWN if (v := _text_member(entry, k, where)) is not None}
    not_read.update(_not_read(entry, (*_LIST_MEMBERS, *_SHOWN)))
    return DeviceEvidence(
        report=report_bytes(entry["evidence"], f"{where}.evidence"),
        certificates=chain_certificates(entry["certificate"], f"{where}.certificate"),
        label=label,
        architecture=_text_member(entry, "arch", where),
        declared_nonce=declared,
        uuid=_text_member(entry, "uuid", where),
        envelope=shown,
    )


def _evidence_list(doc: list[Any]) -> tuple[list[DeviceEvidence], Layer]:
    not_read: set[str] = set()
    devices = [
        _evidence_entry(item, f"[{i}]", f"entry {i}", None, not_read)
        for i, item in enumerate(_devices(doc, "the evidence list"))
    ]
    return devices, _layer("nvidia-evidence-list", len(devices), sorted(not_read))


def _nras_request(doc: dict[str, Any]) -> tuple[list[DeviceEvidence], Layer]:
    nonce = _nonce(doc["nonce"], "nonce") if "nonce" in doc else None
    arch = _text_member(doc, "arch", "the request")
    not_read: set[str] = set(_not_read(doc, ("nonce", "arch", "evidence_list", "claims_version")))
    devices = []
    for i, item in enumerate(_devices(doc["evidence_list"], "evidence_list")):
        device = _evidence_entry(item, f"evidence_list[{i}]", f"entry {i}", nonce, not_read)
        if device.architecture is None and arch is not None:
            device = DeviceEvidence(**{**device.__dict__, "architecture": arch})
        devices.append(device)
    return devices, _layer("nvidia-nras-request", len(devices), sorted(not_read))


def _trustee(doc: dict[str, Any]) -> tuple[list[DeviceEvidence], Layer]:
    not_read: set[str] = set(_not_read(doc, ("device_evidence_list",)))
    items = _devices(doc["device_evidence_list"], "device_evidence_list")
    devices = [
        _evidence_entry(item, f"device_evidence_list[{i}]", f"entry {i}", None, not_read)
        for i, item in enumerate(items)
    ]
    return devices, _layer("trustee-nvidia-evidence", len(devices), sorted(not_read))


def _pickled_bytes(value: Any, where: str) -> bytes:
    """jsonpickle's ``{"py/b64": …}`` of the report."""
    holder = _object(value, where)
    if set(holder) != {"py/b64"}:
        raise _error(f"{where} is not a jsonpickle {{'py/b64': …}} object")
    report = report_bytes(holder["py/b64"], f"{where}['py/b64']")
    return report


def _pickled_chain(value: Any, where: str) -> tuple[bytes, ...]:
    """A list of ``{"pem": base64 of PEM}`` (each one or more certificates)."""
    if not isinstance(value, list) or not value or len(value) > 16:
        raise _error(f"{where} is not a list of PEM certificates")
    certificates: list[bytes] = []
    for i, item in enumerate(value):
        entry = _object(item, f"{where}[{i}]")
        if "pem" not in entry:
            raise _error(f"{where}[{i}] has no 'pem' member")
        certificates.extend(chain_certificates(entry["pem"], f"{where}[{i}].pem"))
    return tuple(certificates)


def _nvattest_tools(doc: dict[str, Any]) -> tuple[list[DeviceEvidence], Layer]:
    not_read: set[str] = set(_not_read(doc, ("gpus", "nvswitches")))
    devices: list[DeviceEvidence] = []
    for i, item in enumerate(_devices(doc["gpus"], "gpus")):
        where = f"gpus[{i}]"
        gpu = _object(item, where)
        chains = _object(gpu.get("CertificateChains"), f"{where}.CertificateChains")
        arch = gpu.get("Arch")
        devices.append(
            DeviceEvidence(
                report=_pickled_bytes(gpu.get("AttestationReport"), f"{where}.AttestationReport"),
                certificates=_pickled_chain(
                    chains.get("GpuAttestationCertificateChain"),
                    f"{where}.CertificateChains.GpuAttestationCertificateChain",
                ),
                label=f"gpus[{i}]",
                architecture=arch if isinstance(arch, str) else None,
                uuid=_text_member(gpu, "UUID", where),
                envelope={
                    k: v
                    for k, name in (
                        ("driver_version", "DriverVersion"),
                        ("vbios_version", "VbiosVersion"),
                    )
                    if (v := _text_member(gpu, name, where)) is not None
                },
            )
        )
    switches = doc.get("nvswitches", [])
    for i, item in enumerate(_devices(switches, "nvswitches") if switches else []):
        where = f"nvswitches[{i}]"
        switch = _object(item, where)
        devices.append(
            DeviceEvidence(
                report=_pickled_bytes(
                    switch.get("attestation_report"), f"{where}.attestation_report"
                ),
                certificates=_pickled_chain(
                    switch.get("attestation_cert_chain"), f"{where}.attestation_cert_chain"
                ),
                label=where,
                architecture="LS10",
                uuid=_text_member(switch, "uuid", where),
            )
        )
    if len(devices) > MAX_DEVICES:
        raise _error(f"the document lists {len(devices)} devices; at most {MAX_DEVICES}")
    return devices, _layer("nvattest-tools-json", len(devices), sorted(not_read))


def _layer(name: str, count: int, not_read: Sequence[str]) -> Layer:
    detail = f"{count} device{'s' if count != 1 else ''}"
    if not_read:
        detail += f"; not read: {', '.join(not_read[:8])}"
    return Layer(known(name), detail)


_Reader = Callable[[Any], tuple[list[DeviceEvidence], Layer]]


def _json(data: bytes) -> tuple[list[DeviceEvidence], Layer]:
    doc = parse_json(data, WHAT, component="input")
    envelope: _Reader | None = None
    if isinstance(doc, list):
        if all(isinstance(i, dict) and "evidence" in i for i in doc) and doc:
            envelope = _evidence_list
    elif isinstance(doc, dict):
        if doc.get("format") == "cairn-evidence":
            raise _error(
                "this is a Cairn evidence bundle, not bare GPU evidence",
                hint="verify it with `cairn verify evidence FILE` (it verifies its GPUs too)",
            )
        if "claims" in doc and "detached_eat" in doc:
            raise _error(
                "this is an NVIDIA verifier's result (claims and detached EAT), not evidence: "
                "Cairn verifies the evidence itself",
                hint="give the evidence the verifier was given (the SDK's evidence JSON)",
            )
        for member, reader in (
            ("evidence_list", _nras_request),
            ("device_evidence_list", _trustee),
            ("gpus", _nvattest_tools),
        ):
            if member in doc:
                envelope = reader
                break
    if envelope is None:
        shape = (
            f"a JSON object with members {', '.join(list(doc)[:6]) or 'none'}"
            if isinstance(doc, dict)
            else "a JSON array that is not an evidence list"
            if isinstance(doc, list)
            else "a JSON value that is not evidence"
        )
        raise _error(f"{shape}; {ACCEPTED}")
    return envelope(doc)


# --------------------------------------------------------------------------- Privasys PGAE

_PGAE_TYPES: Final = {
    1: "nonce",
    2: "report",
    3: "certificates",
    5: "uuid",
    6: "driver_version",
    7: "vbios_version",
    8: "cc_environment",
    9: "cc_feature",
    10: "devtools_mode",
}


def _pgae(data: bytes) -> tuple[list[DeviceEvidence], Layer]:
    if len(data) < 5 or data[4] != 1:
        raise _error("a PGAE envelope of a version other than 1", hint="Cairn reads PGAE v1")
    fields: dict[int, bytes] = {}
    offset = 5
    unknown: list[str] = []
    while offset < len(data):
        if offset + 5 > len(data):
            raise _error(f"the PGAE envelope is cut off in a field header at offset {offset}")
        kind = data[offset]
        size = int.from_bytes(data[offset + 1 : offset + 5], "big")
        if size > len(data) - offset - 5:
            raise _error(f"PGAE field 0x{kind:02x} at offset {offset} runs past the end")
        if kind in fields:
            raise _error(f"PGAE field 0x{kind:02x} appears twice")
        fields[kind] = data[offset + 5 : offset + 5 + size]
        if kind not in _PGAE_TYPES:
            unknown.append(f"0x{kind:02x}")
        offset += 5 + size
    for required in (2, 3):
        if required not in fields:
            raise _error(f"the PGAE envelope has no {_PGAE_TYPES[required]} field")
    nonce = fields.get(1)
    if nonce is not None and len(nonce) != 32:
        raise _error(f"the PGAE nonce field is {len(nonce)} bytes, not 32")
    if not fields[2].startswith(SPDM_START):
        raise _error("the PGAE report field is not an NVIDIA attestation report")
    shown = {}
    for kind in (5, 6, 7):
        if kind in fields:
            shown[_PGAE_TYPES[kind]] = fields[kind].decode("ascii", "replace")
    for kind in (8, 9, 10):
        if kind in fields:
            shown[_PGAE_TYPES[kind]] = str(int.from_bytes(fields[kind], "big"))
    try:
        certificates = tuple(cert.der for cert in load_certificates(fields[3]))
    except MalformedInputError as error:
        raise _error(f"the PGAE certificate field: {error.message}") from None
    device = DeviceEvidence(
        report=fields[2],
        certificates=certificates,
        label="the report",
        declared_nonce=nonce,
        uuid=shown.pop("uuid", None),
        envelope=shown,
    )
    detail = "1 device" + (f"; not read: fields {', '.join(unknown)}" if unknown else "")
    return [device], Layer(known("privasys-pgae"), detail)


# --------------------------------------------------------------------------- the reader


def _bare(data: bytes, certs: Sequence[bytes] | None) -> tuple[list[DeviceEvidence], Layer, Layer]:
    body = data.removeprefix(BOM)
    if not is_text(body):
        readings: list[tuple[bytes, Layer]] = [(data, Layer(known("raw")))]
    else:
        readings = []
        for reading in decode_text_candidates(body, WHAT):
            name = "pem" if reading.fmt is BlobFormat.PEM else reading.fmt.format_name
            readings.append((reading.data, Layer(known(name))))
    for payload, layer in readings:
        if payload.startswith(PGAE_MAGIC):
            devices, container = _pgae(payload)
            return devices, layer, container
    reports = [(p, layer) for p, layer in readings if p.startswith(SPDM_START)]
    if len(reports) != 1:
        first = readings[0][0] if readings else b""
        raise _error(
            f"got {len(first)} bytes that are no NVIDIA attestation report (it starts with 11 e0; "
            f"this starts with {first[:2].hex() or 'nothing'}); {ACCEPTED}",
            hint="an attestation report is the SPDM GET_MEASUREMENTS request and response NVML "
            "returns",
        )
    payload, layer = reports[0]
    device = DeviceEvidence(report=payload, certificates=tuple(certs or ()), label="the report")
    return [device], layer, Layer(known("spdm-report"), f"{len(payload)} bytes")


def read_gpu_evidence(data: bytes, certs: Sequence[bytes] | None = None) -> GpuEvidenceSet:
    """The devices in ``data``; ``certs`` (DER, leaf first) is the chain of a bare report."""
    data = bytes(data)
    if not data:
        raise _error("the input is empty")
    body = data.removeprefix(BOM)
    if body.lstrip()[:1] in (b"{", b"["):
        devices, layer = _json(body)
        layers: tuple[Layer, ...] = (layer,)
        if certs:
            raise _error(
                "--certs is for a bare attestation report; this envelope carries each "
                "device's chain",
                hint="drop --certs",
            )
    elif body.startswith(PGAE_MAGIC):
        devices, layer = _pgae(body)
        layers = (layer,)
    else:
        devices, outer, container = _bare(data, certs)
        layers = (outer, container)
    return GpuEvidenceSet(tuple(devices), layers)
