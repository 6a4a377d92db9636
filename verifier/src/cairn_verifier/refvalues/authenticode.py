"""The Authenticode digest of a PE image: what UEFI firmware measures for an EFI application.

UEFI firmware extends PCR 4 (TDX: RTMR[1]) with the Authenticode hash of every boot
application it loads (EV_EFI_BOOT_SERVICES_APPLICATION; EDK2's ``DxeTpm2MeasureBootLib``). The
hash (Microsoft, "Windows Authenticode Portable Executable Signature Format") covers:

1. the headers up to ``SizeOfHeaders``, leaving out the checksum and the certificate-table
   data-directory entry;
2. every section with raw data, in file order (sorted by ``PointerToRawData``);
3. anything after the last section, except the attribute certificate table.

``pad_to`` appends zero bytes to a file whose size is not a multiple of it before step 3's end:
QEMU hands a directly booted kernel to TDVF in a buffer rounded up to 8 bytes, which the
firmware measures (as dstack-mr models it; its values match real TD quotes).
"""

from __future__ import annotations

import hashlib

from .pe import PeImage, parse_pe


def authenticode_digest(data: bytes | PeImage, algorithm: str = "sha256", pad_to: int = 1) -> bytes:
    """The Authenticode digest of the PE image ``data`` with hash ``algorithm``."""
    image = data if isinstance(data, PeImage) else parse_pe(data)
    raw = image.data
    digest = hashlib.new(algorithm)
    digest.update(raw[: image.checksum_offset])
    if image.security_entry_offset >= 0:
        digest.update(raw[image.checksum_offset + 4 : image.security_entry_offset])
        digest.update(raw[image.security_entry_offset + 8 : image.size_of_headers])
    else:
        digest.update(raw[image.checksum_offset + 4 : image.size_of_headers])
    hashed = image.size_of_headers
    for section in sorted(image.sections, key=lambda s: s.raw_offset):
        if not section.raw_size:
            continue
        digest.update(raw[section.raw_offset : section.raw_offset + section.raw_size])
        hashed += section.raw_size
    end = len(raw) - image.certificate_table[1]
    if end > hashed:
        digest.update(raw[hashed:end])
    if pad_to > 1 and len(raw) % pad_to:
        digest.update(bytes(pad_to - len(raw) % pad_to))
    return digest.digest()
