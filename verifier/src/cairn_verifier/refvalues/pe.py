"""A strict reader of the PE/COFF layout that measurements depend on (Microsoft PE format).

Only what Authenticode hashing and UKI section extraction need: the optional header's checksum
and certificate-table entry offsets, ``SizeOfHeaders``, and the section table. Every offset and
size is checked against the file; a defect is a :class:`~cairn_verifier.errors.ParseError`
naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..binary import Reader
from ..errors import ParseError

COMPONENT: Final = "PE image"
PE32: Final = 0x10B
PE32_PLUS: Final = 0x20B
SECURITY_DIRECTORY: Final = 4
MAX_SECTIONS: Final = 96
MAX_ZERO_FILL: Final = 16 * 1024 * 1024
"""Most a section's content may extend past its raw data when it is read (a loader zero-fills
it). Only reading a section's content is limited: a kernel's ``.text`` may claim its BSS and
decompression buffer (tens of MiB) and is still Authenticode-hashed as it is."""


@dataclass(frozen=True)
class Section:
    """One section header: its name and where its data is in the file and in memory."""

    name: str
    virtual_size: int
    virtual_address: int
    raw_size: int
    raw_offset: int


@dataclass(frozen=True)
class PeImage:
    """The parsed layout of a PE file (``data`` is the whole file)."""

    data: bytes
    checksum_offset: int
    security_entry_offset: int
    """Offset of the certificate-table data-directory entry (8 bytes: address, size); -1 when
    the optional header has no such entry."""
    size_of_headers: int
    sections: tuple[Section, ...]
    certificate_table: tuple[int, int]
    """(file offset, size) of the attribute certificate table; (0, 0) when unsigned."""

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def section_data(self, section: Section) -> bytes:
        """The section's content as loaded: ``VirtualSize`` bytes of its raw data (zero-filled
        past the raw data, as a loader does; at most :data:`MAX_ZERO_FILL` bytes of it)."""
        raw = self.data[section.raw_offset : section.raw_offset + section.raw_size]
        size = section.virtual_size or section.raw_size
        if size > len(raw) + MAX_ZERO_FILL:
            raise _fail(
                f"section {section.name!r} claims {size} bytes of memory for {len(raw)} bytes "
                f"of data (at most {MAX_ZERO_FILL} bytes of zero fill are read)",
                f"section {section.name} VirtualSize",
            )
        return raw[:size].ljust(size, b"\x00")


def _fail(message: str, field: str, offset: int | None = None) -> ParseError:
    return ParseError(
        f"PE image: {message}",
        component=COMPONENT,
        field=field,
        offset=offset,
        hint="pass a PE/COFF image (an EFI application, a UKI, a bzImage with an EFI stub)",
    )


def parse_pe(data: bytes) -> PeImage:
    """Parse the headers and section table of the PE image ``data``."""
    reader = Reader(data, "PE image", order="little", component=COMPONENT)
    if reader.take(2, "DOS signature") != b"MZ":
        raise _fail("no MZ signature", "DOS signature", 0)
    reader.offset = 0x3C
    pe_offset = reader.u32("e_lfanew")
    reader.offset = pe_offset
    if reader.take(4, "PE signature") != b"PE\x00\x00":
        raise _fail("no PE signature at e_lfanew", "PE signature", pe_offset)
    reader.u16("Machine")
    count = reader.u16("NumberOfSections")
    reader.take(12, "COFF timestamps and symbols")
    optional_size = reader.u16("SizeOfOptionalHeader")
    reader.u16("Characteristics")
    optional = reader.offset
    if count > MAX_SECTIONS:
        raise _fail(f"{count} sections (at most {MAX_SECTIONS} are read)", "NumberOfSections")
    magic = reader.u16("Magic")
    if magic not in (PE32, PE32_PLUS):
        raise _fail(f"optional header magic 0x{magic:x} is neither PE32 nor PE32+", "Magic")
    directories = optional + (96 if magic == PE32 else 112)
    count_offset = directories - 4
    if count_offset + 4 > optional + optional_size:
        raise _fail("the optional header is too short", "SizeOfOptionalHeader", optional)
    reader.offset = optional + 60
    size_of_headers = reader.u32("SizeOfHeaders")
    reader.offset = count_offset
    rva_count = reader.u32("NumberOfRvaAndSizes")
    security = directories + 8 * SECURITY_DIRECTORY
    has_security = rva_count > SECURITY_DIRECTORY and security + 8 <= optional + optional_size
    certificate_table = (0, 0)
    if has_security:
        reader.offset = security
        certificate_table = (reader.u32("certificate table address"), reader.u32("size"))
    table = optional + optional_size
    if not table <= size_of_headers <= len(data):
        raise _fail(f"SizeOfHeaders {size_of_headers} is outside the file", "SizeOfHeaders")
    reader.offset = table
    sections = []
    for index in range(count):
        name = reader.take(8, f"section {index} name").rstrip(b"\x00").decode("latin-1")
        virtual_size = reader.u32(f"section {index} VirtualSize")
        virtual_address = reader.u32(f"section {index} VirtualAddress")
        raw_size = reader.u32(f"section {index} SizeOfRawData")
        raw_offset = reader.u32(f"section {index} PointerToRawData")
        reader.take(16, f"section {index} relocations and characteristics")
        if raw_size and raw_offset + raw_size > len(data):
            raise _fail(
                f"section {name!r} raw data [{raw_offset}, {raw_offset + raw_size}) is outside "
                f"the {len(data)}-byte file",
                f"section {index}",
            )
        sections.append(Section(name, virtual_size, virtual_address, raw_size, raw_offset))
    address, size = certificate_table
    if size and (address < size_of_headers or address + size > len(data)):
        raise _fail("the certificate table is outside the file", "certificate table")
    return PeImage(
        data=data,
        checksum_offset=optional + 64,
        security_entry_offset=security if has_security else -1,
        size_of_headers=size_of_headers,
        sections=tuple(sections),
        certificate_table=certificate_table,
    )
