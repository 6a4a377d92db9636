"""Test support: lift SEV-SNP attestation reports and certificates out of upstream containers.

The shared SNP test vectors (``tests/vectors/snp``, see its PROVENANCE.md) arrive in the
formats their source projects use: raw binaries, hex and base64 text, Azure HCL reports,
trustee evidence JSON, Go txtar archives, Oak protobufs and one sev-crate serde JSON report.
Every function here returns exact bytes and raises ``ValueError`` when its input is not the
container it expects, so a catalogue built on top of it can never silently carry a bad vector.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from cairn_verifier.snp.report import ECDSA_COMPONENT_SIZE, REPORT_FIELDS, build_report

REPORT_SIZE = 0x4A0  # 1184 bytes: AMD SEV-SNP ABI spec 56860, ATTESTATION_REPORT
HCL_MAGIC = b"HCLA"
HCL_REPORT_OFFSET = 0x20  # the SNP report follows the 32-byte Azure HCL header

_PEM_BLOCK = re.compile(
    rb"-----BEGIN (?P<label>[A-Z0-9 ]+)-----(?P<body>.*?)-----END (?P=label)-----", re.DOTALL
)
_TXTAR_HEADER = re.compile(rb"^-- (?P<name>.+?) --\r?$", re.MULTILINE)


def exact_report(data: bytes, what: str) -> bytes:
    """``data`` if it is exactly one report long, else ``ValueError`` naming ``what``."""
    if len(data) != REPORT_SIZE:
        raise ValueError(f"{what}: expected {REPORT_SIZE} report bytes, got {len(data)}")
    return bytes(data)


def report_from_hex(text: bytes, what: str) -> bytes:
    """Decode a report written as hex digits (any case, surrounding whitespace allowed)."""
    try:
        return exact_report(bytes.fromhex(text.decode("ascii").strip()), what)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{what}: not a hex-encoded report: {exc}") from exc


def b64decode_strict(text: bytes | str, what: str, *, urlsafe: bool = False) -> bytes:
    """Base64 (or base64url) decode, ignoring line breaks and tolerating missing padding."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    compact = b"".join(raw.split())
    compact += b"=" * (-len(compact) % 4)
    if urlsafe:
        compact = compact.replace(b"-", b"+").replace(b"_", b"/")
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{what}: invalid base64: {exc}") from exc


def report_from_base64(text: bytes, what: str) -> bytes:
    """Decode a report written as one base64 string."""
    return exact_report(b64decode_strict(text, what), what)


def report_from_hcl(blob: bytes, what: str) -> bytes:
    """The SNP report inside an Azure vTPM HCL report (``HCLA`` header, report at 0x20)."""
    if not blob.startswith(HCL_MAGIC):
        raise ValueError(f"{what}: missing {HCL_MAGIC!r} magic, got {blob[:4]!r}")
    end = HCL_REPORT_OFFSET + REPORT_SIZE
    if len(blob) < end:
        raise ValueError(f"{what}: HCL report of {len(blob)} bytes is too short for a report")
    return exact_report(blob[HCL_REPORT_OFFSET:end], what)


def pem_blocks(text: bytes, label: str, what: str) -> list[bytes]:
    """DER payloads of every ``-----BEGIN <label>-----`` block (LF or CRLF line endings)."""
    blocks = [
        b64decode_strict(match["body"], what)
        for match in _PEM_BLOCK.finditer(text)
        if match["label"] == label.encode("ascii")
    ]
    if not blocks:
        raise ValueError(f"{what}: no PEM block labelled {label!r}")
    return blocks


def pem_certificates(text: bytes, what: str) -> tuple[bytes, ...]:
    """Every certificate in a PEM bundle, as DER, in file order."""
    return tuple(pem_blocks(text, "CERTIFICATE", what))


def txtar_sections(text: bytes, what: str) -> dict[str, bytes]:
    """The named files of a Go txtar archive (``-- name --`` header lines)."""
    headers = list(_TXTAR_HEADER.finditer(text))
    if not headers:
        raise ValueError(f"{what}: no '-- name --' sections (not a txtar archive)")
    sections: dict[str, bytes] = {}
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        name = header["name"].decode("utf-8")
        if name in sections:
            raise ValueError(f"{what}: duplicate txtar section {name!r}")
        sections[name] = text[header.end() + 1 : end]
    return sections


# --- protobuf wire format -------------------------------------------------------------------

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


def _read_varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError(f"{what}: truncated protobuf varint")
        if shift > 63:
            raise ValueError(f"{what}: protobuf varint longer than 10 bytes")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def protobuf_fields(data: bytes, what: str) -> list[tuple[int, int, int | bytes]]:
    """Decode one protobuf message into ``(field number, wire type, value)`` triples.

    Varints decode to ``int``; length-delimited and fixed-width fields to their raw bytes.
    """
    fields: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos, what)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ValueError(f"{what}: protobuf field number 0")
        value: int | bytes
        if wire_type == _VARINT:
            value, pos = _read_varint(data, pos, what)
        elif wire_type in (_FIXED64, _FIXED32, _LENGTH_DELIMITED):
            if wire_type == _LENGTH_DELIMITED:
                size, pos = _read_varint(data, pos, what)
            else:
                size = 8 if wire_type == _FIXED64 else 4
            if pos + size > len(data):
                raise ValueError(f"{what}: protobuf field {number} runs past the end")
            value = data[pos : pos + size]
            pos += size
        else:
            raise ValueError(f"{what}: unsupported protobuf wire type {wire_type}")
        fields.append((number, wire_type, value))
    return fields


def protobuf_path(data: bytes, path: Sequence[int], what: str) -> bytes:
    """Follow nested length-delimited fields (``(1, 2)`` = field 2 inside field 1).

    Each step must occur exactly once, so an ambiguous path is an error, not a guess.
    """
    current = data
    for depth, number in enumerate(path):
        where = ".".join(str(n) for n in path[: depth + 1])
        matches = [
            value
            for field, wire_type, value in protobuf_fields(current, what)
            if field == number and wire_type == _LENGTH_DELIMITED
        ]
        if len(matches) != 1:
            raise ValueError(f"{what}: protobuf field {where} occurs {len(matches)} times")
        match = matches[0]
        assert isinstance(match, bytes)
        current = match
    return current


# --- trustee JSON ---------------------------------------------------------------------------


def _byte_list(values: object, what: str) -> bytes:
    if not isinstance(values, list) or not all(
        isinstance(v, int) and 0 <= v <= 0xFF for v in values
    ):
        raise ValueError(f"{what}: expected a list of byte values")
    return bytes(values)


def azure_evidence(document: bytes, what: str) -> tuple[bytes, bytes]:
    """``(HCL report, VCEK DER)`` from a trustee az-snp-vtpm evidence JSON (v0, v1 or v2).

    v0 (no ``version`` key): ``report`` is the HCL report as a list of ints, ``vcek`` a PEM.
    v1/v2: ``hcl_report`` is base64url, ``vcek`` is base64url DER.
    """
    evidence = json.loads(document)
    if not isinstance(evidence, dict):
        raise ValueError(f"{what}: evidence JSON is not an object")
    version = evidence.get("version", 0)
    if version == 0:
        hcl = _byte_list(evidence.get("report"), f"{what}: report")
        (vcek,) = pem_certificates(str(evidence["vcek"]).encode("ascii"), what)
    elif version in (1, 2):
        hcl = b64decode_strict(str(evidence["hcl_report"]), what, urlsafe=True)
        vcek = b64decode_strict(str(evidence["vcek"]), what, urlsafe=True)
    else:
        raise ValueError(f"{what}: unknown evidence version {version!r}")
    return hcl, vcek


# The sev crate's serde names for the report fields whose Cairn attribute is spelled otherwise;
# the layout itself is Cairn's one field table (cairn_verifier.snp.report.REPORT_FIELDS).
_SEV_JSON_RENAMED = {
    "sig_algo": "signature_algo",
    "plat_info": "platform_info",
    "key_info": "signer_info",
}
_SEV_JSON_TCBS = ("current_tcb", "reported_tcb", "committed_tcb", "launch_tcb")
_SEV_JSON_FIRMWARE = ("current", "committed")  # {"build", "minor", "major"}
_FIRMWARE_PARTS = ("build", "minor", "major")
_SEV_JSON_SPLIT = {f"{key}_{part}" for key in _SEV_JSON_FIRMWARE for part in _FIRMWARE_PARTS}
_SEV_JSON_SPLIT |= {"signature_r", "signature_s"}  # from "signature": {"r", "s"}


def _tcb_bytes(tcb: Mapping[str, Any], what: str) -> bytes:
    """TCB_VERSION: Milan/Genoa [0]=BL [1]=TEE [6]=SNP [7]=UCODE; Turin adds [0]=FMC, shifts."""
    out = bytearray(8)
    if tcb.get("fmc") is None:
        slots = {"bootloader": 0, "tee": 1, "snp": 6, "microcode": 7}
    else:
        slots = {"fmc": 0, "bootloader": 1, "tee": 2, "snp": 3, "microcode": 7}
    unknown = set(tcb) - set(slots) - {"fmc"}
    if unknown:
        raise ValueError(f"{what}: unknown TCB keys {sorted(unknown)}")
    for key, index in slots.items():
        value = tcb[key]
        if not isinstance(value, int) or not 0 <= value <= 0xFF:
            raise ValueError(f"{what}: TCB {key} is not a byte: {value!r}")
        out[index] = value
    return bytes(out)


def _sev_json_value(key: str, value: Any, what: str) -> int | bytes:
    if key in _SEV_JSON_TCBS:
        return _tcb_bytes(value, f"{what}: {key}")
    if isinstance(value, list):
        return _byte_list(value, f"{what}: {key}")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{what}: {key} is not a non-negative integer: {value!r}")
    return value


def report_from_sev_json(fields: Mapping[str, Any], what: str) -> bytes:
    """Re-serialise a sev-crate serde JSON ``AttestationReport`` into the 1184-byte layout,
    through Cairn's report builder (whose field table the signature check then vouches for).

    Every key must be known (nothing is dropped silently); absent optional keys stay zero.
    """
    attrs = {f.attr for f in REPORT_FIELDS if f.attr} - _SEV_JSON_SPLIT
    nested = {*_SEV_JSON_FIRMWARE, "signature"}
    unknown = {k for k in fields if k not in nested and _SEV_JSON_RENAMED.get(k, k) not in attrs}
    if unknown:
        raise ValueError(f"{what}: unknown report keys {sorted(unknown)}")
    values: dict[str, object] = {}
    for key, value in fields.items():
        if key in _SEV_JSON_FIRMWARE:
            parts = {n: value[n] for n in _FIRMWARE_PARTS}
            if not all(isinstance(p, int) and 0 <= p <= 0xFF for p in parts.values()):
                raise ValueError(f"{what}: {key} firmware version is not three bytes: {value!r}")
            values.update((f"{key}_{n}", p) for n, p in parts.items())
        elif key == "signature":
            for component in ("r", "s"):
                raw = _byte_list(value[component], f"{what}: signature.{component}")
                if len(raw) != ECDSA_COMPONENT_SIZE:
                    raise ValueError(f"{what}: signature.{component} has {len(raw)} bytes")
                values[f"signature_{component}"] = int.from_bytes(raw, "little")
        else:
            values[_SEV_JSON_RENAMED.get(key, key)] = _sev_json_value(key, value, what)
    try:
        return build_report(values)
    except (TypeError, OverflowError) as exc:
        raise ValueError(f"{what}: {exc}") from exc


def sev_json_evidence(document: bytes, what: str) -> tuple[bytes, tuple[bytes, ...]]:
    """``(report, certificates)`` from trustee's e2e evidence JSON (sev crate serde form)."""
    evidence = json.loads(document)
    report = report_from_sev_json(evidence["attestation_report"], what)
    certs = tuple(
        _byte_list(entry["data"], f"{what}: cert_chain {entry.get('cert_type')}")
        for entry in evidence["cert_chain"]
    )
    return report, certs
