"""The Intel SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1).

The extension value is a SEQUENCE of (OID, value) pairs (Intel "SGX PCK Certificate and CRL
Profile"): PPID (.1), TCB (.2: components .2.1-.2.16, PCESVN .2.17, CPUSVN .2.18), PCE-ID (.3),
FMSPC (.4), SGX Type (.5) and, for certificates of the PCK *Platform* CA, PlatformInstanceID
(.6) and Configuration (.7: dynamicPlatform, cachedKeys, SMTEnabled).
"""

from __future__ import annotations

import functools
from enum import IntEnum
from typing import Literal

from ..errors import ChainError, ParseError
from ..records import Record
from ..x509.der import BOOLEAN, ENUMERATED, INTEGER, OCTET_STRING, SEQUENCE, Tlv, parse_single

SGX_EXTENSIONS_OID = "1.2.840.113741.1.13.1"
_PPID = SGX_EXTENSIONS_OID + ".1"
_TCB = SGX_EXTENSIONS_OID + ".2"
_PCE_ID = SGX_EXTENSIONS_OID + ".3"
_FMSPC = SGX_EXTENSIONS_OID + ".4"
_SGX_TYPE = SGX_EXTENSIONS_OID + ".5"
_PLATFORM_INSTANCE_ID = SGX_EXTENSIONS_OID + ".6"
_CONFIGURATION = SGX_EXTENSIONS_OID + ".7"

PLATFORM_CA_CN = "Intel SGX PCK Platform CA"
PROCESSOR_CA_CN = "Intel SGX PCK Processor CA"


class SgxType(IntEnum):
    STANDARD = 0
    SCALABLE = 1
    SCALABLE_WITH_INTEGRITY = 2


class PlatformConfiguration(Record):
    """Configuration (.7) of a multi-package platform; each flag may be absent."""

    dynamic_platform: bool | None
    cached_keys: bool | None
    smt_enabled: bool | None

    __slots__ = ("cached_keys", "dynamic_platform", "smt_enabled")

    def __init__(
        self, dynamic_platform: bool | None, cached_keys: bool | None, smt_enabled: bool | None
    ) -> None:
        object.__setattr__(self, "dynamic_platform", dynamic_platform)
        object.__setattr__(self, "cached_keys", cached_keys)
        object.__setattr__(self, "smt_enabled", smt_enabled)


class SgxExtensions(Record):
    """The decoded SGX extension of a PCK leaf certificate."""

    ppid: bytes
    tcb_components: tuple[int, ...]
    pce_svn: int
    cpu_svn: bytes
    pce_id: bytes
    fmspc: bytes
    sgx_type: SgxType
    platform_instance_id: bytes | None
    configuration: PlatformConfiguration | None

    __slots__ = (
        "configuration",
        "cpu_svn",
        "fmspc",
        "pce_id",
        "pce_svn",
        "platform_instance_id",
        "ppid",
        "sgx_type",
        "tcb_components",
    )

    def __init__(  # noqa: PLR0917
        self,
        ppid: bytes,
        tcb_components: tuple[int, ...],
        pce_svn: int,
        cpu_svn: bytes,
        pce_id: bytes,
        fmspc: bytes,
        sgx_type: SgxType,
        platform_instance_id: bytes | None = None,
        configuration: PlatformConfiguration | None = None,
    ) -> None:
        object.__setattr__(self, "ppid", ppid)
        object.__setattr__(self, "tcb_components", tcb_components)
        object.__setattr__(self, "pce_svn", pce_svn)
        object.__setattr__(self, "cpu_svn", cpu_svn)
        object.__setattr__(self, "pce_id", pce_id)
        object.__setattr__(self, "fmspc", fmspc)
        object.__setattr__(self, "sgx_type", sgx_type)
        object.__setattr__(self, "platform_instance_id", platform_instance_id)
        object.__setattr__(self, "configuration", configuration)

    @classmethod
    def parse(cls, ext_value: bytes) -> SgxExtensions:
        """Parse the DER extension value (the OCTET STRING's content); cached by its bytes."""
        return _parse_cached(bytes(ext_value))

    @classmethod
    def _parse(cls, ext_value: bytes) -> SgxExtensions:
        entries = _entries(parse_single(ext_value, "SGX extensions"), "SGX extensions")
        tcb = _entries(_require(entries, _TCB, "TCB").expect(SEQUENCE, "SGX TCB"), "SGX TCB")
        components = tuple(
            _uint(_require(tcb, f"{_TCB}.{i}", f"TCB component {i}"), f"TCB component {i}", 255)
            for i in range(1, 17)
        )
        sgx_type_value = _enumerated(_require(entries, _SGX_TYPE, "SGX Type"))
        try:
            sgx_type = SgxType(sgx_type_value)
        except ValueError as exc:
            raise _fail(f"unknown SGX Type {sgx_type_value}", "SGX Type") from exc
        instance = entries.get(_PLATFORM_INSTANCE_ID)
        config = entries.get(_CONFIGURATION)
        return cls(
            ppid=_octets(_require(entries, _PPID, "PPID"), "PPID", 16),
            tcb_components=components,
            pce_svn=_uint(_require(tcb, f"{_TCB}.17", "PCESVN"), "PCESVN", 0xFFFF),
            cpu_svn=_octets(_require(tcb, f"{_TCB}.18", "CPUSVN"), "CPUSVN", 16),
            pce_id=_octets(_require(entries, _PCE_ID, "PCE-ID"), "PCE-ID", 2),
            fmspc=_octets(_require(entries, _FMSPC, "FMSPC"), "FMSPC", 6),
            sgx_type=sgx_type,
            platform_instance_id=(
                _octets(instance, "PlatformInstanceID", 16) if instance is not None else None
            ),
            configuration=_configuration(config) if config is not None else None,
        )


@functools.lru_cache(maxsize=128)
def _parse_cached(ext_value: bytes) -> SgxExtensions:
    return SgxExtensions._parse(ext_value)


def pck_ca_kind(issuer_cn: str | None) -> Literal["platform", "processor"]:
    """Which Intel PCK CA issued a PCK certificate (from the issuer common name)."""
    if issuer_cn == PLATFORM_CA_CN:
        return "platform"
    if issuer_cn == PROCESSOR_CA_CN:
        return "processor"
    raise ChainError(
        f"PCK certificate issuer {issuer_cn!r} is not an Intel SGX PCK Platform/Processor CA",
        component="pck",
        hint="the quote's certification data must carry Intel's PCK chain "
        "(PCK leaf, Intel SGX PCK Platform or Processor CA, Intel SGX Root CA)",
    )


def _fail(message: str, field: str) -> ParseError:
    return ParseError(f"SGX extension: {message}", component="pck", field=field)


def _entries(tlv: Tlv, what: str) -> dict[str, Tlv]:
    """A SEQUENCE OF SEQUENCE { OID, value } as a mapping (duplicates rejected)."""
    tlv.expect(SEQUENCE, what)
    out: dict[str, Tlv] = {}
    for child in tlv.children():
        child.expect(SEQUENCE, f"{what} entry")
        parts = child.children()
        if len(parts) != 2:
            raise _fail(f"{what} entry has {len(parts)} elements, expected 2", what)
        oid = parts[0].as_oid()
        if oid in out:
            raise _fail(f"duplicate entry {oid}", what)
        out[oid] = parts[1]
    return out


def _require(entries: dict[str, Tlv], oid: str, name: str) -> Tlv:
    if oid not in entries:
        raise _fail(f"missing {name} ({oid})", name)
    return entries[oid]


def _uint(tlv: Tlv, name: str, maximum: int) -> int:
    if tlv.tag != INTEGER:
        raise _fail(f"{name} is not an INTEGER", name)
    value = tlv.as_int()
    if not 0 <= value <= maximum:
        raise _fail(f"{name} {value} is outside 0..{maximum}", name)
    return value


def _enumerated(tlv: Tlv) -> int:
    if tlv.tag != ENUMERATED or not tlv.content:
        raise _fail("SGX Type is not an ENUMERATED", "SGX Type")
    return int.from_bytes(tlv.content, "big", signed=True)


def _octets(tlv: Tlv, name: str, size: int) -> bytes:
    if tlv.tag != OCTET_STRING:
        raise _fail(f"{name} is not an OCTET STRING", name)
    if len(tlv.content) != size:
        raise _fail(f"{name} is {len(tlv.content)} bytes, expected {size}", name)
    return tlv.content


def _boolean(entries: dict[str, Tlv], oid: str, name: str) -> bool | None:
    tlv = entries.get(oid)
    if tlv is None:
        return None
    if tlv.tag != BOOLEAN or len(tlv.content) != 1 or tlv.content[0] not in (0x00, 0xFF):
        raise _fail(f"{name} is not a DER BOOLEAN", name)
    return tlv.content[0] == 0xFF


def _configuration(tlv: Tlv) -> PlatformConfiguration:
    entries = _entries(tlv, "Configuration")
    return PlatformConfiguration(
        dynamic_platform=_boolean(entries, f"{_CONFIGURATION}.1", "dynamicPlatform"),
        cached_keys=_boolean(entries, f"{_CONFIGURATION}.2", "cachedKeys"),
        smt_enabled=_boolean(entries, f"{_CONFIGURATION}.3", "SMTEnabled"),
    )
