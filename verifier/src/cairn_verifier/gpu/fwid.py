"""The firmware ID (FWID) a device's leaf certificate carries, in each family's layout.

The device's firmware issues its leaf certificate and records the SHA-384 digest of the
firmware that did so; the same digest is in the signed report (opaque field 20). Two layouts:

* Hopper and NVSwitch (extension 2.23.133.5.4.1)::

      SEQUENCE { version INTEGER, SubjectPublicKeyInfo, FWID }

* Blackwell (extension 2.23.133.5.4.1.1), a TCG ``DiceTcbInfo`` with implicitly tagged fields
  ``[0] vendor .. [5] index, [6] fwids SEQUENCE OF FWID, [7] flags ..``; the FWID is the first
  entry of ``fwids``.

``FWID ::= SEQUENCE { hashAlg OBJECT IDENTIFIER, digest OCTET STRING }``; the digest must be
SHA-384 (48 bytes).
"""

from __future__ import annotations

import functools
from typing import Final

from ..errors import ParseError
from ..x509.cert import Certificate
from ..x509.der import INTEGER, OCTET_STRING, SEQUENCE, Tlv, context, parse_single
from .families import FwidLayout

COMPONENT: Final = "device chain"
OID_SHA384: Final = "2.16.840.1.101.3.4.2.2"
_FWIDS_TAG: Final = context(6)


def _fail(message: str) -> ParseError:
    return ParseError(message, component=COMPONENT, field="FWID extension")


def _fwid(tlv: Tlv, what: str) -> bytes:
    parts = tlv.expect(SEQUENCE, what).children()
    if len(parts) != 2 or parts[1].tag != OCTET_STRING:
        raise _fail(f"{what} is not a SEQUENCE {{hashAlg, digest OCTET STRING}}")
    algorithm = parts[0].as_oid()
    if algorithm != OID_SHA384 or len(parts[1].content) != 48:
        raise _fail(
            f"{what} is a {algorithm} digest of {len(parts[1].content)} bytes; NVIDIA devices "
            "record SHA-384"
        )
    return parts[1].content


def certificate_fwid(leaf: Certificate, layout: FwidLayout) -> bytes | None:
    """The leaf's FWID in ``layout``; None when the certificate has no such extension (read
    once per certificate: certificates are immutable)."""
    return _certificate_fwid(leaf, layout)


@functools.lru_cache(maxsize=256)
def _certificate_fwid(leaf: Certificate, layout: FwidLayout) -> bytes | None:
    extension = leaf.extensions.get(layout.value)
    if extension is None:
        return None
    try:
        outer = parse_single(extension.value, "FWID extension").expect(SEQUENCE, "FWID extension")
        items = outer.children()
        if layout is FwidLayout.HOPPER:
            if len(items) != 3 or items[0].tag != INTEGER or items[1].tag != SEQUENCE:
                raise _fail(
                    "the 2.23.133.5.4.1 extension is not SEQUENCE {version, "
                    "SubjectPublicKeyInfo, FWID}"
                )
            return _fwid(items[2], "FWID")
        fwids = [item for item in items if item.tag == _FWIDS_TAG]
        if len(fwids) != 1:
            raise _fail("the DiceTcbInfo (2.23.133.5.4.1.1) has no single [6] fwids field")
        entries = Tlv(SEQUENCE, fwids[0].content, fwids[0].encoded).children()
        if not entries:
            raise _fail("the DiceTcbInfo fwids list is empty")
        return _fwid(entries[0], "fwids[0]")
    except ParseError as error:
        if error.component == COMPONENT:
            raise
        raise _fail(f"the FWID extension is malformed: {error.message}") from None
