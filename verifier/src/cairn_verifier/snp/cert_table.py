"""The SEV-SNP extended-report certificate table (GHCB specification 56421, MSG_REPORT_REQ).

The host hands the guest its certificates as one blob: a table of entries
``{guid: 16 bytes (RFC 4122 byte order), offset: u32 LE, length: u32 LE}`` ended by an
all-zero entry, followed by the certificates; offsets are from the start of the blob. The
blob comes from the kernel as a zero-padded page-sized buffer (``/dev/sev-guest``) or as
configfs-tsm's ``auxblob``. An empty or all-zero blob means "no certificates".
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ..errors import ParseError

COMPONENT = "snp-cert-table"
ENTRY_SIZE = 24
_ENTRY = struct.Struct("<16sII")
_TERMINATOR = bytes(ENTRY_SIZE)


class CertRole(StrEnum):
    """Which AMD key a certificate in the table belongs to."""

    VCEK = "vcek"
    VLEK = "vlek"
    ASK = "ask"
    ARK = "ark"


ROLE_GUIDS: Mapping[CertRole, uuid.UUID] = {
    CertRole.VCEK: uuid.UUID("63da758d-e664-4564-adc5-f4b93be8accd"),
    CertRole.VLEK: uuid.UUID("a8074bc2-a25a-483e-aae6-39c045a0b8a1"),
    CertRole.ASK: uuid.UUID("4ab7b379-bbac-4fe4-a02f-05aef327c782"),
    CertRole.ARK: uuid.UUID("c0b406a4-a803-4952-9743-3fb6014cd0ae"),
}
_ROLES_BY_GUID = {guid: role for role, guid in ROLE_GUIDS.items()}


@dataclass(frozen=True)
class CertTableEntry:
    """One table entry with the bytes it points at; ``role`` is None for an unknown GUID."""

    guid: uuid.UUID
    data: bytes

    @property
    def role(self) -> CertRole | None:
        return _ROLES_BY_GUID.get(self.guid)


def _fail(message: str, field: str, offset: int) -> ParseError:
    return ParseError(
        message,
        component=COMPONENT,
        field=field,
        offset=offset,
        hint="the host's SEV-SNP certificate blob is corrupt; ask the platform operator to"
        " re-provision the certificates (e.g. snphost import), or fetch them from AMD KDS",
    )


def read_cert_table(blob: bytes) -> list[CertTableEntry]:
    """Every entry of the table, in order, bounds-checked; ParseError on any malformation."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise ParseError(
            f"certificate table must be bytes, not {type(blob).__name__}", component=COMPONENT
        )
    data = bytes(blob)
    if not data.strip(b"\0"):
        return []
    headers: list[tuple[int, uuid.UUID, int, int]] = []
    pos = 0
    while True:
        if pos + ENTRY_SIZE > len(data):
            raise _fail(
                f"table of {len(data)} bytes ends before its all-zero terminator entry",
                "terminator",
                pos,
            )
        raw = data[pos : pos + ENTRY_SIZE]
        if raw == _TERMINATOR:
            break
        guid_bytes, offset, length = _ENTRY.unpack(raw)
        headers.append((pos, uuid.UUID(bytes=guid_bytes), offset, length))
        pos += ENTRY_SIZE
    table_end = pos + ENTRY_SIZE

    entries: list[CertTableEntry] = []
    seen: set[uuid.UUID] = set()
    for at, guid, offset, length in headers:
        if guid in seen:
            raise _fail(f"GUID {guid} appears twice", "guid", at)
        seen.add(guid)
        if length == 0:
            raise _fail(f"entry {guid} has length 0", "length", at + 20)
        if offset < table_end:
            raise _fail(
                f"entry {guid} points at offset {offset}, inside the {table_end}-byte table",
                "offset",
                at + 16,
            )
        if offset + length > len(data):
            raise _fail(
                f"entry {guid} spans {offset}..{offset + length}, past the end of the"
                f" {len(data)}-byte blob",
                "length",
                at + 20,
            )
        entries.append(CertTableEntry(guid=guid, data=data[offset : offset + length]))
    return entries


def parse_cert_table(blob: bytes) -> dict[CertRole, bytes]:
    """The certificates (as stored, normally DER) of the known roles; unknown GUIDs are skipped."""
    return {entry.role: entry.data for entry in read_cert_table(blob) if entry.role is not None}


CertTableInput = (
    Mapping[CertRole, bytes] | Mapping[uuid.UUID, bytes] | Mapping[CertRole | uuid.UUID, bytes]
)


def build_cert_table(certs: CertTableInput, *, pad_to: int = 0) -> bytes:
    """Encode a table (roles or raw GUIDs to bytes), zero-padded to at least ``pad_to`` bytes."""
    items = [
        (ROLE_GUIDS[key] if isinstance(key, CertRole) else key, bytes(value))
        for key, value in certs.items()
    ]
    offset = (len(items) + 1) * ENTRY_SIZE
    header = bytearray()
    body = bytearray()
    for guid, value in items:
        if not value:
            raise ValueError(f"certificate for {guid} is empty")
        header += _ENTRY.pack(guid.bytes, offset + len(body), len(value))
        body += value
    blob = bytes(header) + _TERMINATOR + bytes(body)
    return blob + bytes(max(0, pad_to - len(blob)))
