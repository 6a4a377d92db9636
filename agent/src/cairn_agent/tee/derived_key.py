"""SEV-SNP derived keys: the ``MSG_KEY_REQ`` request (SEV-SNP Firmware ABI, "MSG_KEY_REQ") as
the Linux UAPI carries it (``struct snp_derived_key_req`` in ``linux/sev-guest.h``).

The AMD Secure Processor derives a 32-byte key from a root key the host never sees (the chip's
VCEK secret, or the VM root key a migration agent installed: VMRK) mixed with the guest fields
the request selects: guest policy, image ID, family ID, launch measurement, a guest SVN and a
TCB version (each no higher than the guest's own), and the VMPL. The same guest on the same chip
asking for the same fields gets the same key on every boot; any other guest, the host included,
cannot compute it.

``struct snp_derived_key_req`` (32 bytes, little-endian)::

    0x00 u32 root_key_select     bit 0: 0 = VCEK, 1 = VMRK (other bits reserved: 0)
    0x04 u32 rsvd                0
    0x08 u64 guest_field_select  bit 0 guest policy, 1 image ID, 2 family ID, 3 measurement,
                                 4 guest SVN, 5 TCB version (higher bits: 0)
    0x10 u32 vmpl                mixed into the key; must be >= the caller's VMPL
    0x14 u32 guest_svn           mixed in when bit 4 is set; must be <= the guest's SVN
    0x18 u64 tcb_version         mixed in when bit 5 is set; must be <= the committed TCB

``struct snp_derived_key_resp`` is 64 bytes: the firmware's ``MSG_KEY_RSP``, a u32 status, 28
reserved bytes and the 32-byte derived key. (``MSG_KEY_REQ`` version 2 adds a launch mitigation
vector; the UAPI structure has no room for it, so it is not offered.)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .base import ProviderError

DERIVED_KEY_REQ = struct.Struct("<IIQIIQ")
"""snp_derived_key_req {root_key_select u32, rsvd u32, guest_field_select u64, vmpl u32,
guest_svn u32, tcb_version u64}."""
DERIVED_KEY_RESP_SIZE = 64
"""snp_derived_key_resp {data[64]}."""
MSG_KEY_RSP = struct.Struct("<I28s32s")
"""MSG_KEY_RSP {status u32, reserved[28], derived_key[32]}."""
KEY_BYTES = 32
MAX_VMPL = 3
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


class RootKey(IntEnum):
    """``root_key_select`` bit 0."""

    VCEK = 0
    """The chip's versioned endorsement secret: the key is bound to this chip (and TCB)."""
    VMRK = 1
    """The VM root key a migration agent installed: moves with the VM, gone without an MA."""


class GuestField(IntFlag):
    """``guest_field_select``: the guest's launch fields mixed into the key."""

    GUEST_POLICY = 1 << 0
    IMAGE_ID = 1 << 1
    FAMILY_ID = 1 << 2
    MEASUREMENT = 1 << 3
    GUEST_SVN = 1 << 4
    TCB_VERSION = 1 << 5


FIELD_NAMES: dict[str, GuestField] = {
    "guest-policy": GuestField.GUEST_POLICY,
    "image-id": GuestField.IMAGE_ID,
    "family-id": GuestField.FAMILY_ID,
    "measurement": GuestField.MEASUREMENT,
    "guest-svn": GuestField.GUEST_SVN,
    "tcb-version": GuestField.TCB_VERSION,
}
"""The names configuration files and the command line use for the fields."""
_DEFINED_FIELDS = sum(FIELD_NAMES.values())


def parse_fields(text: str) -> GuestField:
    """``"measurement,guest-policy"`` (comma or plus separated) as :class:`GuestField` bits."""
    fields = GuestField(0)
    for word in (w.strip() for w in text.replace("+", ",").split(",")):
        if not word:
            continue
        if word not in FIELD_NAMES:
            raise ValueError(f"unknown guest field {word[:40]!r}; known: {', '.join(FIELD_NAMES)}")
        fields |= FIELD_NAMES[word]
    return fields


def field_names(fields: GuestField) -> list[str]:
    """The names of the set bits, in bit order."""
    return [name for name, bit in FIELD_NAMES.items() if fields & bit]


@dataclass(frozen=True)
class DerivedKeyRequest:
    """One ``MSG_KEY_REQ``: which root key, which guest fields, and the values mixed in."""

    root_key: RootKey = RootKey.VCEK
    fields: GuestField = GuestField.MEASUREMENT | GuestField.GUEST_POLICY
    vmpl: int = 0
    guest_svn: int = 0
    tcb_version: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.root_key, RootKey):
            raise ProviderError(f"root key must be VCEK or VMRK, got {self.root_key!r}")
        if type(self.fields) is not GuestField and not isinstance(self.fields, GuestField):
            raise ProviderError(f"guest fields must be GuestField bits, got {self.fields!r}")
        if int(self.fields) & ~_DEFINED_FIELDS:
            raise ProviderError(
                f"guest_field_select 0x{int(self.fields):x} sets bits the UAPI does not define"
            )
        if type(self.vmpl) is not int or not 0 <= self.vmpl <= MAX_VMPL:
            raise ProviderError(f"vmpl must be 0-{MAX_VMPL}, got {self.vmpl!r}")
        if type(self.guest_svn) is not int or not 0 <= self.guest_svn <= _U32:
            raise ProviderError(f"guest SVN must be a u32, got {self.guest_svn!r}")
        if type(self.tcb_version) is not int or not 0 <= self.tcb_version <= _U64:
            raise ProviderError(f"TCB version must be a u64, got {self.tcb_version!r}")

    def pack(self) -> bytes:
        """The 32-byte ``struct snp_derived_key_req``."""
        return DERIVED_KEY_REQ.pack(
            int(self.root_key), 0, int(self.fields), self.vmpl, self.guest_svn, self.tcb_version
        )

    def describe(self) -> str:
        """One line naming what the key is bound to (logs, the state volume's token)."""
        names = "+".join(field_names(self.fields)) or "none"
        return (
            f"root={self.root_key.name.lower()} fields={names} vmpl={self.vmpl} "
            f"guest_svn={self.guest_svn} tcb_version=0x{self.tcb_version:016x}"
        )


class DerivedKeySource(Protocol):
    """A platform that answers ``MSG_KEY_REQ`` (a real SEV-SNP guest, or the simulated one)."""

    def derived_key(self, request: DerivedKeyRequest) -> bytes:
        """The 32-byte key for ``request``; ProviderError when the platform refuses."""
        ...


STATE_KEY_BYTES = 64
STATE_KEY_INFO = b"cairn/state-volume-key/v1"


def state_volume_key(derived: bytes, request: DerivedKeyRequest) -> bytes:
    """The state volume's LUKS passphrase from a derived key: HKDF-SHA256 (RFC 5869) with the
    packed request as salt, so the hardware key is never used directly and a key derived for
    another purpose (other fields) never opens the volume."""
    if len(derived) != KEY_BYTES:
        raise ProviderError(f"a derived key is {KEY_BYTES} bytes, got {len(derived)}")
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=STATE_KEY_BYTES, salt=request.pack(), info=STATE_KEY_INFO
    )
    return hkdf.derive(derived)
