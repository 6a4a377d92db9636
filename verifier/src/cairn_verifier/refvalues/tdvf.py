"""MRTD of a TD launched with a TDVF (TDX OVMF) image.

The VMM copies the firmware into the TD with ``TDH.MEM.PAGE.ADD`` and measures it with
``TDH.MR.EXTEND``, as the firmware's **TDVF metadata** says (TDVF design guide, section 11):
a descriptor ``TDVF`` listing sections (data offset and size in the image, guest-physical
address and size, type, attributes). The TDX module folds every operation into MRTD, one
SHA-384 over 128-byte records (Intel TDX module ABI):

* ``TDH.MEM.PAGE.ADD`` of each 4 KiB page of a section without ``PAGE.AUG``: ``MEM.PAGE.ADD``
  padded to 16 bytes, the page's GPA (u64 LE), zero fill;
* ``TDH.MR.EXTEND`` of each 256-byte chunk of a section with ``MR.EXTEND``: ``MR.EXTEND``
  padded to 16 bytes, the chunk's GPA, zero fill, then the chunk's 256 bytes.

VMMs differ in the order: QEMU before 10.1's upstream TDX support (and KVM's older uAPI) adds
all pages of a section, then extends them (``two-pass``); newer stacks extend each page right
after adding it (``single-pass``). Both are computed; the quote says which the host uses.

The metadata is found through OVMF's GUIDed table at the end of the image (footer GUID
``96b582de-1fb2-45f7-baea-a366c55a082d`` 32 bytes before the end; entry
``e47a6535-984a-4798-865e-4685a7bf8ec2`` holds the descriptor's offset from the end).
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from dataclasses import dataclass
from typing import Final, Literal

from ..errors import ParseError

COMPONENT: Final = "TDVF"
PAGE: Final = 0x1000
CHUNK: Final = 0x100
FOOTER_GUID: Final = uuid.UUID("96b582de-1fb2-45f7-baea-a366c55a082d").bytes_le
METADATA_GUID: Final = uuid.UUID("e47a6535-984a-4798-865e-4685a7bf8ec2").bytes_le
MR_EXTEND: Final = 0x1
PAGE_AUG: Final = 0x2
SECTION_TYPES: Final = {
    0: "BFV",
    1: "CFV",
    2: "TD_HOB",
    3: "TempMem",
    4: "PermMem",
    5: "Payload",
    6: "PayloadParam",
}
MAX_SECTIONS: Final = 64
MAX_ADDED_PAGES: Final = 1 << 18
"""Most pages the VMM adds (1 GiB): TDVF's added sections are a few MiB."""
MAX_FIRMWARE_BYTES: Final = 64 * 1024 * 1024
PageAddOrder = Literal["two-pass", "single-pass"]
HINT: Final = "pass a TDX firmware image (OVMF/TDVF built with TDX support, e.g. OVMF.fd)"


@dataclass(frozen=True)
class TdvfSection:
    data_offset: int
    raw_size: int
    address: int
    memory_size: int
    type: int
    attributes: int

    @property
    def type_name(self) -> str:
        return SECTION_TYPES.get(self.type, f"0x{self.type:x}")


def _fail(message: str, field: str) -> ParseError:
    return ParseError(f"TDVF metadata: {message}", component=COMPONENT, field=field, hint=HINT)


def _metadata_offset(firmware: bytes) -> int:
    if len(firmware) < 64:
        raise _fail("the image is too small", "image")
    footer = len(firmware) - 32
    if firmware[footer - 16 : footer] != FOOTER_GUID:
        raise _fail("no OVMF GUIDed table footer 32 bytes before the end", "table footer")
    (table_size,) = struct.unpack_from("<H", firmware, footer - 18)
    start = footer - table_size
    if table_size < 18 or start < 0:
        raise _fail(f"table size {table_size} is invalid", "table footer")
    end = footer - 18
    while end - 18 >= start:
        guid = firmware[end - 16 : end]
        (size,) = struct.unpack_from("<H", firmware, end - 18)
        if size < 18 or end + 18 - size < start:
            raise _fail(f"entry size {size} is invalid", "GUIDed table")
        if guid == METADATA_GUID:
            if size < 22:
                raise _fail("the TDX metadata entry holds no offset", "GUIDed table")
            offset: int = struct.unpack_from("<I", firmware, end - 22)[0]
            return offset
        end -= size
    raise _fail("no TDX metadata entry: not a TDX-capable firmware", "GUIDed table")


def parse_tdvf(firmware: bytes) -> tuple[TdvfSection, ...]:
    """The sections of the firmware's TDVF metadata, checked against the image."""
    if len(firmware) > MAX_FIRMWARE_BYTES:
        raise _fail(f"the image is larger than {MAX_FIRMWARE_BYTES} bytes", "image")
    from_end = _metadata_offset(firmware)
    offset = len(firmware) - from_end
    if not 0 <= offset <= len(firmware) - 16:
        raise _fail(f"descriptor offset {from_end} from the end is outside the image", "offset")
    signature, _length, version, count = struct.unpack_from("<4sIII", firmware, offset)
    if signature != b"TDVF" or version != 1:
        raise _fail(f"descriptor {signature!r} version {version} (expected TDVF, 1)", "descriptor")
    if not 1 <= count <= MAX_SECTIONS or offset + 16 + 32 * count > len(firmware):
        raise _fail(f"{count} sections do not fit", "NumberOfSectionEntry")
    sections = []
    for index in range(count):
        fields = struct.unpack_from("<IIQQII", firmware, offset + 16 + 32 * index)
        section = TdvfSection(*fields)
        where = f"section {index}"
        if section.address % PAGE or section.memory_size % PAGE:
            raise _fail("address or size is not page aligned", where)
        if section.raw_size > section.memory_size:
            raise _fail("raw data is larger than its memory", where)
        if section.data_offset + section.raw_size > len(firmware):
            raise _fail("raw data is outside the image", where)
        if section.attributes & MR_EXTEND and section.raw_size != section.memory_size:
            raise _fail("a measured section's raw data must fill its memory", where)
        sections.append(section)
    added = sum(s.memory_size // PAGE for s in sections if not s.attributes & PAGE_AUG)
    if added > MAX_ADDED_PAGES:
        raise _fail(f"{added} pages to add, more than the {MAX_ADDED_PAGES} read", "sections")
    return tuple(sections)


def _record(operation: bytes, gpa: int) -> bytes:
    return operation.ljust(16, b"\x00") + struct.pack("<Q", gpa) + bytes(104)


def compute_mrtd(firmware: bytes, order: PageAddOrder = "two-pass") -> bytes:
    """MRTD after the VMM added and measured the firmware (``order``: see the module)."""
    sections = parse_tdvf(firmware)
    mrtd = hashlib.sha384()

    def add(section: TdvfSection, page: int) -> None:
        if not section.attributes & PAGE_AUG:
            mrtd.update(_record(b"MEM.PAGE.ADD", section.address + page * PAGE))

    def extend(section: TdvfSection, page: int) -> None:
        if not section.attributes & MR_EXTEND:
            return
        for chunk in range(PAGE // CHUNK):
            at = page * PAGE + chunk * CHUNK
            mrtd.update(_record(b"MR.EXTEND", section.address + at))
            start = section.data_offset + at
            mrtd.update(firmware[start : start + CHUNK])

    for section in sections:
        if section.attributes & PAGE_AUG and not section.attributes & MR_EXTEND:
            continue  # accepted by the TD later (TDH.MEM.PAGE.AUG): nothing enters MRTD
        pages = range(section.memory_size // PAGE)
        if order == "two-pass":
            for page in pages:
                add(section, page)
            for page in pages:
                extend(section, page)
        else:
            for page in pages:
                add(section, page)
                extend(section, page)
    return mrtd.digest()
