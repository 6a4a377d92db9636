"""Intel TDX collateral: TDX TCB info v3, TD_QE identity v2, their signatures, CRLs, loaders.

Intel signs the *exact bytes* of the inner ``tcbInfo`` / ``enclaveIdentity`` object as served
by the PCS (ECDSA P-256, SHA-256, raw r||s). Cairn therefore never re-serialises JSON: a PCS body
``{"tcbInfo":{...},"signature":"..."}`` is sliced byte-exactly with :func:`slice_json_member`.

Accepted forms:

* dcap-qvl's collateral JSON (``QuoteCollateralV3``) — :func:`load_dcap_qvl_collateral`;
* raw Intel PCS response bodies (+ the issuer chain from the HTTP header, URL-encoded PEM) —
  :func:`load_pcs_tcb_info`, :func:`load_pcs_qe_identity`, :func:`decode_issuer_chain_header`;
* a directory of PCS files — :func:`load_collateral_dir` (file names in :data:`DIR_FILE_NAMES`).

Loading is strict: a field or file that is unknown, duplicated, mistyped or ambiguous is a
:class:`MalformedInputError` (exit 10), never silently skipped, so whoever supplies collateral
cannot rename a CRL away. A CRL that is simply absent loads as ``None``; the verification
pipeline then fails revocation unless the policy allows incomplete collateral.

Validity windows (issueDate..nextUpdate) are checked by ``check_current`` and fail with
:class:`ChainError` (exit code 3, "expired or not yet valid"), like certificates and CRLs.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..errors import ChainError, MalformedInputError, ParseError, SignatureError
from ..input_files import list_input_directory, read_directory_files, read_input_file
from ..timefmt import iso_time

TDX_TCB_INFO_ID = "TDX"
TDX_TCB_INFO_VERSION = 3
TD_QE_IDENTITY_ID = "TD_QE"
TD_QE_IDENTITY_VERSION = 2
COMPONENT_COUNT = 16

_PCS_HINT = (
    "fetch TDX collateral from Intel PCS (/tdx/certification/v4/tcb?fmspc=..., "
    "/tdx/certification/v4/qe/identity) or a PCCS"
)


class TcbStatus(StrEnum):
    """TCB statuses of Intel's TCB info / QVL, plus QVL's "no matching TCB level" outcome."""

    UP_TO_DATE = "UpToDate"
    SW_HARDENING_NEEDED = "SWHardeningNeeded"
    CONFIGURATION_NEEDED = "ConfigurationNeeded"
    CONFIGURATION_AND_SW_HARDENING_NEEDED = "ConfigurationAndSWHardeningNeeded"
    OUT_OF_DATE = "OutOfDate"
    OUT_OF_DATE_CONFIGURATION_NEEDED = "OutOfDateConfigurationNeeded"
    REVOKED = "Revoked"
    TD_RELAUNCH_ADVISED = "TDRelaunchAdvised"
    TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED = "TDRelaunchAdvisedConfigurationNeeded"
    NOT_SUPPORTED = "TCB_NOT_SUPPORTED"


# Statuses a TCB info platform level may carry (QVL VALID_TCB_INFO_STATUSES).
PLATFORM_LEVEL_STATUSES = frozenset(
    {
        TcbStatus.UP_TO_DATE,
        TcbStatus.SW_HARDENING_NEEDED,
        TcbStatus.CONFIGURATION_NEEDED,
        TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED,
        TcbStatus.OUT_OF_DATE,
        TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED,
        TcbStatus.REVOKED,
    }
)
# Statuses of TDX module identity levels (QVL VALID_MODULE_TCB_STATUSES).
MODULE_LEVEL_STATUSES = frozenset({TcbStatus.UP_TO_DATE, TcbStatus.OUT_OF_DATE, TcbStatus.REVOKED})
# Statuses of enclave (QE) identity levels (QVL TcbStatus parser).
IDENTITY_LEVEL_STATUSES = frozenset(
    {
        TcbStatus.UP_TO_DATE,
        TcbStatus.CONFIGURATION_NEEDED,
        TcbStatus.OUT_OF_DATE,
        TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED,
        TcbStatus.REVOKED,
    }
)


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class TcbComponent:
    """One SVN of a TCB level, with Intel's optional description (TCB info v3)."""

    svn: int
    category: str | None = None
    type: str | None = None

    def label(self) -> str:
        """'SEAMLDR ACM, OS/VMM' style description, or '' when Intel gives none."""
        return ", ".join(part for part in (self.type, self.category) if part)


@dataclass(frozen=True)
class TcbLevel:
    """A platform TCB level: 16 SGX SVNs + PCESVN + 16 TDX SVNs -> status."""

    sgx_components: tuple[TcbComponent, ...]
    pce_svn: int
    tdx_components: tuple[TcbComponent, ...]
    tcb_date: datetime
    tcb_status: TcbStatus
    advisory_ids: tuple[str, ...]

    @property
    def sgx_svns(self) -> tuple[int, ...]:
        return tuple(c.svn for c in self.sgx_components)

    @property
    def tdx_svns(self) -> tuple[int, ...]:
        return tuple(c.svn for c in self.tdx_components)

    def sort_key(self) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
        """QVL's TcbLevel order: SGX SVNs, then PCESVN, then TDX SVNs (compared descending)."""
        return (self.sgx_svns, self.pce_svn, self.tdx_svns)


@dataclass(frozen=True)
class IdentityTcbLevel:
    """A TCB level keyed by one ISVSVN (TDX module identity or QE identity)."""

    isv_svn: int
    tcb_date: datetime
    tcb_status: TcbStatus
    advisory_ids: tuple[str, ...]


@dataclass(frozen=True)
class TdxModule:
    """Expected TDX module signer and attributes (``tdxModule`` of the TCB info)."""

    mrsigner: bytes
    attributes: bytes
    attributes_mask: bytes


@dataclass(frozen=True)
class TdxModuleIdentity:
    """One entry of ``tdxModuleIdentities`` (TDX module major version, e.g. ``TDX_01``)."""

    id: str
    mrsigner: bytes
    attributes: bytes
    attributes_mask: bytes
    tcb_levels: tuple[IdentityTcbLevel, ...]


@dataclass(frozen=True)
class TcbInfo:
    """Intel TDX TCB info, version 3 (``id`` = "TDX")."""

    id: str
    version: int
    issue_date: datetime
    next_update: datetime
    fmspc: bytes
    pce_id: bytes
    tcb_type: int
    tcb_evaluation_data_number: int
    tdx_module: TdxModule
    tdx_module_identities: tuple[TdxModuleIdentity, ...]
    tcb_levels: tuple[TcbLevel, ...]

    @classmethod
    def parse(cls, data: bytes) -> TcbInfo:
        """Parse the signed ``tcbInfo`` object text (not the PCS envelope)."""
        return _parse_tcb_info(_load_json_object(data, "TCB info"))

    def sorted_levels(self) -> tuple[TcbLevel, ...]:
        """Levels in QVL's order (highest first), independent of the order served."""
        return tuple(sorted(self.tcb_levels, key=TcbLevel.sort_key, reverse=True))

    def module_identity(self, module_version: int) -> TdxModuleIdentity | None:
        """The ``TDX_%02X`` identity for a TDX module major version (case-insensitive id)."""
        wanted = f"TDX_{module_version:02X}"
        for identity in self.tdx_module_identities:
            if identity.id.upper() == wanted:
                return identity
        return None

    def check_current(self, at: datetime) -> None:
        """Raise :class:`ChainError` unless ``issue_date <= at <= next_update``."""
        _check_window("TCBInfo", self.issue_date, self.next_update, at)


@dataclass(frozen=True)
class QeIdentity:
    """Intel TD_QE identity, version 2 (``enclaveIdentity`` with ``id`` = "TD_QE").

    ``miscselect``/``miscselect_mask`` are integers read like QVL does: the 4 hex bytes in
    report byte order (little-endian), so they compare directly with the QE report's MISCSELECT.
    """

    id: str
    version: int
    issue_date: datetime
    next_update: datetime
    tcb_evaluation_data_number: int
    miscselect: int
    miscselect_mask: int
    attributes: bytes
    attributes_mask: bytes
    mrsigner: bytes
    isvprodid: int
    tcb_levels: tuple[IdentityTcbLevel, ...]

    @classmethod
    def parse(cls, data: bytes) -> QeIdentity:
        """Parse the signed ``enclaveIdentity`` object text (not the PCS envelope)."""
        return _parse_qe_identity(_load_json_object(data, "QE identity"))

    def sorted_levels(self) -> tuple[IdentityTcbLevel, ...]:
        return tuple(sorted(self.tcb_levels, key=lambda lvl: lvl.isv_svn, reverse=True))

    def check_current(self, at: datetime) -> None:
        """Raise :class:`ChainError` unless ``issue_date <= at <= next_update``."""
        _check_window("QEIdentity", self.issue_date, self.next_update, at)


@dataclass(frozen=True)
class SignedJson:
    """The exact bytes Intel signed and the 64-byte r||s ECDSA P-256 signature over them."""

    body: bytes
    signature: bytes


T = TypeVar("T")


@dataclass(frozen=True)
class Signed(Generic[T]):
    """A parsed collateral document with its signed bytes and its issuer chain (PEM)."""

    parsed: T
    signed: SignedJson
    issuer_chain: bytes | None


SignedTcbInfo = Signed[TcbInfo]
SignedQeIdentity = Signed[QeIdentity]


@dataclass(frozen=True)
class TdxCollateral:
    """Everything needed to appraise a TDX quote offline.

    A CRL may be ``None`` (collateral supplied without it); the pipeline fails revocation then,
    unless the policy sets ``allow_collateral_without_crl``."""

    tcb_info: SignedTcbInfo
    qe_identity: SignedQeIdentity
    pck_crl: bytes | None = None
    pck_crl_issuer_chain: bytes | None = None
    root_ca_crl: bytes | None = None
    source: str = ""

    @property
    def tcb_info_issuer_chain(self) -> bytes | None:
        return self.tcb_info.issuer_chain

    @property
    def qe_identity_issuer_chain(self) -> bytes | None:
        return self.qe_identity.issuer_chain

    def check_current(self, at: datetime) -> None:
        """Both signed documents must be inside their issueDate..nextUpdate window."""
        self.tcb_info.parsed.check_current(at)
        self.qe_identity.parsed.check_current(at)


# --------------------------------------------------------------------------- signatures


def verify_signed_json(signed: SignedJson, signer_public_key: ec.EllipticCurvePublicKey) -> None:
    """Verify Intel's ECDSA P-256/SHA-256 signature over the exact signed bytes."""
    if not isinstance(signer_public_key, ec.EllipticCurvePublicKey) or not isinstance(
        signer_public_key.curve, ec.SECP256R1
    ):
        raise SignatureError(
            "the collateral signer key is not an ECDSA P-256 key",
            component="tdx-collateral",
            hint="the signer must be the leaf (Intel SGX TCB Signing) of the issuer chain",
        )
    if len(signed.signature) != 64:
        raise SignatureError(
            f"signature is {len(signed.signature)} bytes, expected 64 (r||s)",
            component="tdx-collateral",
        )
    r = int.from_bytes(signed.signature[:32], "big")
    s = int.from_bytes(signed.signature[32:], "big")
    if r == 0 or s == 0:
        raise SignatureError("signature has a zero r or s", component="tdx-collateral")
    try:
        signer_public_key.verify(encode_dss_signature(r, s), signed.body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise SignatureError(
            "Intel's signature over the collateral JSON does not verify",
            component="tdx-collateral",
            hint="the JSON was altered (re-serialised, re-indented, EOL-converted) or the "
            "issuer chain does not belong to it; use the bytes exactly as served",
        ) from exc


# --------------------------------------------------------------------------- windows


def _check_window(what: str, issue: datetime, next_update: datetime, at: datetime) -> None:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if issue <= at <= next_update:
        return
    why = "not issued yet" if at < issue else "expired"
    raise ChainError(
        f"not current at {iso_time(at)} "
        f"({why}; valid {iso_time(issue)} .. {iso_time(next_update)})",
        component=what,
        hint=f"{_PCS_HINT} that is current, or verify at a time inside the window",
    )


# --------------------------------------------------------------------------- raw JSON slicing

_WS = b" \t\r\n"


def slice_json_member(text: bytes, key: str) -> bytes:
    """Return the exact bytes of the value of top-level member ``key`` of a JSON object.

    String-aware: braces and quotes inside strings (and escapes) are handled. Duplicate keys
    and malformed structure raise :class:`MalformedInputError`; nothing is re-serialised.
    """
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != ord("{"):
        raise _json_error("expected a JSON object", pos)
    pos = _skip_ws(text, pos + 1)
    found: bytes | None = None
    seen: set[str] = set()
    if pos < len(text) and text[pos] == ord("}"):
        pos += 1
    else:
        while True:
            name_end = _scan_string(text, pos)
            try:
                name = json.loads(text[pos:name_end].decode("utf-8", errors="strict"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise _json_error("invalid member name", pos) from exc
            if name in seen:
                raise _json_error(f"duplicate member {name!r}", pos)
            seen.add(name)
            pos = _skip_ws(text, name_end)
            if pos >= len(text) or text[pos] != ord(":"):
                raise _json_error("expected ':'", pos)
            value_start = _skip_ws(text, pos + 1)
            value_end = _scan_value(text, value_start)
            if name == key:
                found = text[value_start:value_end]
            pos = _skip_ws(text, value_end)
            if pos < len(text) and text[pos] == ord(","):
                pos = _skip_ws(text, pos + 1)
                continue
            if pos < len(text) and text[pos] == ord("}"):
                pos += 1
                break
            raise _json_error("expected ',' or '}'", pos)
    if _skip_ws(text, pos) != len(text):
        raise _json_error("trailing data after the JSON object", pos)
    if found is None:
        raise MalformedInputError(
            f"JSON object has no {key!r} member", component="tdx-collateral", hint=_PCS_HINT
        )
    return found


def _json_error(message: str, offset: int) -> MalformedInputError:
    return MalformedInputError(f"malformed JSON at byte {offset}: {message}", component="json")


def _skip_ws(text: bytes, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _scan_string(text: bytes, pos: int) -> int:
    """Offset just past the JSON string starting at ``pos``."""
    if pos >= len(text) or text[pos] != ord('"'):
        raise _json_error("expected a string", pos)
    i = pos + 1
    while i < len(text):
        byte = text[i]
        if byte == ord("\\"):
            i += 2
            continue
        if byte == ord('"'):
            return i + 1
        if byte < 0x20:
            raise _json_error("control character in string", i)
        i += 1
    raise _json_error("unterminated string", pos)


def _scan_value(text: bytes, pos: int) -> int:
    """Offset just past the JSON value starting at ``pos`` (brackets matched outside strings)."""
    if pos >= len(text):
        raise _json_error("expected a value", pos)
    first = text[pos]
    if first == ord('"'):
        return _scan_string(text, pos)
    if first in b"{[":
        depth = 0
        i = pos
        while i < len(text):
            byte = text[i]
            if byte == ord('"'):
                i = _scan_string(text, i)
                continue
            if byte in b"{[":
                depth += 1
            elif byte in b"}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise _json_error("unterminated object or array", pos)
    end = pos
    while end < len(text) and text[end] not in b",}] \t\r\n":
        end += 1
    if end == pos:
        raise _json_error("expected a value", pos)
    return end


# --------------------------------------------------------------------------- JSON field reading


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: a member given twice is an error, never "the last one wins"."""
    members: dict[str, Any] = {}
    for key, value in pairs:
        if key in members:
            raise ValueError(f"duplicate member {key!r}")
        members[key] = value
    return members


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _load_json_object(data: bytes | str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data, object_pairs_hook=_unique_members, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, huge ints
        raise MalformedInputError(
            f"{what} is not valid JSON: {exc}", component="tdx-collateral"
        ) from exc
    if not isinstance(value, dict):
        raise MalformedInputError(f"{what} must be a JSON object", component="tdx-collateral")
    return value


class _Fields:
    """Typed access to one JSON object with path-aware ParseErrors (never KeyError)."""

    def __init__(self, obj: Any, path: str):
        if not isinstance(obj, dict):
            raise ParseError(f"{path} must be a JSON object", component="tdx-collateral")
        self.obj: dict[str, Any] = obj
        self.path = path

    def _fail(self, key: str, message: str) -> ParseError:
        return ParseError(f"{self.path}.{key}: {message}", component="tdx-collateral")

    def raw(self, key: str) -> Any:
        if key not in self.obj:
            raise self._fail(key, "missing")
        return self.obj[key]

    def has(self, key: str) -> bool:
        return key in self.obj

    def string(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise self._fail(key, "must be a string")
        return value

    def opt_string(self, key: str) -> str | None:
        return self.string(key) if key in self.obj else None

    def integer(self, key: str, maximum: int) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "must be an integer")
        if not 0 <= value <= maximum:
            raise self._fail(key, f"{value} is outside 0..{maximum}")
        return value

    def hexbytes(self, key: str, size: int) -> bytes:
        text = self.string(key)
        if len(text) != 2 * size or not re.fullmatch(r"[0-9A-Fa-f]*", text):
            raise self._fail(key, f"must be {2 * size} hex digits, got {text!r}")
        return bytes.fromhex(text)

    def date(self, key: str) -> datetime:
        text = self.string(key)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise self._fail(key, f"not an ISO 8601 date: {text!r}") from exc
        if parsed.tzinfo is None:
            raise self._fail(key, f"date without a time zone: {text!r}")
        return parsed.astimezone(UTC)

    def array(self, key: str) -> list[Any]:
        value = self.raw(key)
        if not isinstance(value, list):
            raise self._fail(key, "must be an array")
        return value

    def child(self, key: str) -> _Fields:
        return _Fields(self.raw(key), f"{self.path}.{key}")

    def advisory_ids(self) -> tuple[str, ...]:
        if "advisoryIDs" not in self.obj:
            return ()
        ids = self.array("advisoryIDs")
        if not all(isinstance(i, str) for i in ids):
            raise self._fail("advisoryIDs", "must be an array of strings")
        return tuple(ids)

    def status(self, key: str, allowed: frozenset[TcbStatus]) -> TcbStatus:
        text = self.string(key)
        for status in allowed:
            if status.value == text:
                return status
        raise self._fail(key, f"unrecognised TCB status {text!r}")


def _parse_components(fields: _Fields, key: str) -> tuple[TcbComponent, ...]:
    items = fields.array(key)
    if len(items) != COMPONENT_COUNT:
        raise ParseError(
            f"{fields.path}.{key}: expected {COMPONENT_COUNT} components, got {len(items)}",
            component="tdx-collateral",
        )
    out = []
    for i, item in enumerate(items):
        comp = _Fields(item, f"{fields.path}.{key}[{i}]")
        out.append(
            TcbComponent(
                comp.integer("svn", 255), comp.opt_string("category"), comp.opt_string("type")
            )
        )
    return tuple(out)


def _parse_identity_levels(
    fields: _Fields, allowed: frozenset[TcbStatus]
) -> tuple[IdentityTcbLevel, ...]:
    levels = []
    for i, item in enumerate(fields.array("tcbLevels")):
        level = _Fields(item, f"{fields.path}.tcbLevels[{i}]")
        levels.append(
            IdentityTcbLevel(
                isv_svn=level.child("tcb").integer("isvsvn", 0xFFFF),
                tcb_date=level.date("tcbDate"),
                tcb_status=level.status("tcbStatus", allowed),
                advisory_ids=level.advisory_ids(),
            )
        )
    if not levels:
        raise ParseError(f"{fields.path}.tcbLevels is empty", component="tdx-collateral")
    return tuple(levels)


def _parse_tcb_info(obj: dict[str, Any]) -> TcbInfo:
    f = _Fields(obj, "tcbInfo")
    tcb_id = f.opt_string("id")
    version = f.integer("version", 0xFFFFFFFF)
    if tcb_id != TDX_TCB_INFO_ID or version != TDX_TCB_INFO_VERSION:
        raise MalformedInputError(
            f"TCB info is not a TDX v3 structure (id {tcb_id!r}, version {version})",
            component="tdx-collateral",
            hint="an SGX TCB info cannot appraise a TDX quote: "
            "fetch /tdx/certification/v4/tcb?fmspc=... from Intel PCS",
        )
    tcb_type = f.integer("tcbType", 0xFFFFFFFF)
    if tcb_type != 0:
        raise ParseError(
            f"tcbInfo.tcbType {tcb_type} is not supported (only 0)", component="tdx-collateral"
        )
    module = f.child("tdxModule")
    identities = []
    if f.has("tdxModuleIdentities"):
        for i, item in enumerate(f.array("tdxModuleIdentities")):
            ident = _Fields(item, f"tcbInfo.tdxModuleIdentities[{i}]")
            identities.append(
                TdxModuleIdentity(
                    id=ident.string("id"),
                    mrsigner=ident.hexbytes("mrsigner", 48),
                    attributes=ident.hexbytes("attributes", 8),
                    attributes_mask=ident.hexbytes("attributesMask", 8),
                    tcb_levels=_parse_identity_levels(ident, MODULE_LEVEL_STATUSES),
                )
            )
        if not identities:
            raise ParseError("tcbInfo.tdxModuleIdentities is empty", component="tdx-collateral")
    levels = []
    for i, item in enumerate(f.array("tcbLevels")):
        level = _Fields(item, f"tcbInfo.tcbLevels[{i}]")
        tcb = level.child("tcb")
        levels.append(
            TcbLevel(
                sgx_components=_parse_components(tcb, "sgxtcbcomponents"),
                pce_svn=tcb.integer("pcesvn", 0xFFFF),
                tdx_components=_parse_components(tcb, "tdxtcbcomponents"),
                tcb_date=level.date("tcbDate"),
                tcb_status=level.status("tcbStatus", PLATFORM_LEVEL_STATUSES),
                advisory_ids=level.advisory_ids(),
            )
        )
    if not levels:
        raise ParseError("tcbInfo.tcbLevels is empty", component="tdx-collateral")
    if len({lvl.sort_key() for lvl in levels}) != len(levels):
        raise ParseError("tcbInfo.tcbLevels has duplicated TCB levels", component="tdx-collateral")
    return TcbInfo(
        id=TDX_TCB_INFO_ID,
        version=version,
        issue_date=f.date("issueDate"),
        next_update=f.date("nextUpdate"),
        fmspc=f.hexbytes("fmspc", 6),
        pce_id=f.hexbytes("pceId", 2),
        tcb_type=tcb_type,
        tcb_evaluation_data_number=f.integer("tcbEvaluationDataNumber", 0xFFFFFFFF),
        tdx_module=TdxModule(
            mrsigner=module.hexbytes("mrsigner", 48),
            attributes=module.hexbytes("attributes", 8),
            attributes_mask=module.hexbytes("attributesMask", 8),
        ),
        tdx_module_identities=tuple(identities),
        tcb_levels=tuple(levels),
    )


def _parse_qe_identity(obj: dict[str, Any]) -> QeIdentity:
    f = _Fields(obj, "enclaveIdentity")
    qe_id = f.opt_string("id")
    version = f.integer("version", 0xFFFFFFFF)
    if qe_id != TD_QE_IDENTITY_ID or version != TD_QE_IDENTITY_VERSION:
        raise MalformedInputError(
            f"QE identity is not a TD_QE v2 structure (id {qe_id!r}, version {version})",
            component="tdx-collateral",
            hint="the SGX QE identity cannot appraise a TDX quote: "
            "fetch /tdx/certification/v4/qe/identity from Intel PCS",
        )
    return QeIdentity(
        id=TD_QE_IDENTITY_ID,
        version=version,
        issue_date=f.date("issueDate"),
        next_update=f.date("nextUpdate"),
        tcb_evaluation_data_number=f.integer("tcbEvaluationDataNumber", 0xFFFFFFFF),
        miscselect=int.from_bytes(f.hexbytes("miscselect", 4), "little"),
        miscselect_mask=int.from_bytes(f.hexbytes("miscselectMask", 4), "little"),
        attributes=f.hexbytes("attributes", 16),
        attributes_mask=f.hexbytes("attributesMask", 16),
        mrsigner=f.hexbytes("mrsigner", 32),
        isvprodid=f.integer("isvprodid", 0xFFFF),
        tcb_levels=_parse_identity_levels(f, IDENTITY_LEVEL_STATUSES),
    )


# --------------------------------------------------------------------------- loaders


def decode_issuer_chain_header(value: str) -> bytes:
    """Decode a PCS ``*-Issuer-Chain`` HTTP header (URL-encoded PEM) into PEM bytes."""
    try:
        text = urllib.parse.unquote(value.strip(), errors="strict")
    except UnicodeDecodeError as exc:
        raise MalformedInputError(
            "issuer chain header is not URL-encoded UTF-8 text", component="tdx-collateral"
        ) from exc
    return _check_pem_chain(text.encode("utf-8"), "issuer chain header")


def _check_pem_chain(data: bytes, what: str) -> bytes:
    if b"-----BEGIN CERTIFICATE-----" not in data or b"-----END CERTIFICATE-----" not in data:
        raise MalformedInputError(
            f"{what} contains no PEM certificate",
            component="tdx-collateral",
            hint="expected the PEM chain 'Intel SGX TCB Signing' + 'Intel SGX Root CA'",
        )
    return data


def _signature_hex(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not re.fullmatch(r"[0-9A-Fa-f]{128}", text):
        raise MalformedInputError(
            f"{what} must be 128 hex digits (64-byte r||s)", component="tdx-collateral"
        )
    return bytes.fromhex(text)


def _load_pcs_body(body: bytes, key: str, what: str) -> tuple[bytes, bytes]:
    """Return (exact signed inner bytes, signature) of a PCS response body."""
    envelope = _load_json_object(body, what)
    unknown = sorted(set(envelope) - {key, "signature"})
    if unknown:
        raise MalformedInputError(
            f"{what} has unknown member(s) {', '.join(map(repr, unknown))}",
            component="tdx-collateral",
            hint=f'expected the PCS body exactly as served: {{"{key}": {{…}}, "signature": "…"}}',
        )
    inner = slice_json_member(body, key)
    if _load_json_object(inner, what) != envelope.get(key):
        raise MalformedInputError(
            f"{what}: could not isolate the signed {key!r} object", component="tdx-collateral"
        )
    if "signature" not in envelope:
        raise MalformedInputError(f"{what} has no 'signature' member", component="tdx-collateral")
    return inner, _signature_hex(envelope["signature"], f"{what} signature")


def load_pcs_tcb_info(body: bytes, issuer_chain: bytes | None) -> SignedTcbInfo:
    """Load an Intel PCS TDX TCB info response body ``{"tcbInfo":{...},"signature":"..."}``."""
    inner, signature = _load_pcs_body(body, "tcbInfo", "TCB info response")
    chain = _check_pem_chain(issuer_chain, "TCB info issuer chain") if issuer_chain else None
    return Signed(TcbInfo.parse(inner), SignedJson(inner, signature), chain)


def load_pcs_qe_identity(body: bytes, issuer_chain: bytes | None) -> SignedQeIdentity:
    """Load an Intel PCS TD_QE identity body ``{"enclaveIdentity":{...},"signature":"..."}``."""
    inner, signature = _load_pcs_body(body, "enclaveIdentity", "QE identity response")
    chain = _check_pem_chain(issuer_chain, "QE identity issuer chain") if issuer_chain else None
    return Signed(QeIdentity.parse(inner), SignedJson(inner, signature), chain)


#: dcap-qvl ``QuoteCollateralV3`` JSON: every field it has. The three CRL fields may be absent
#: (older dcap-qvl samples lack them); revocation then fails unless the policy allows it.
DCAP_QVL_REQUIRED: Final = (
    "tcb_info_issuer_chain",
    "tcb_info",
    "tcb_info_signature",
    "qe_identity_issuer_chain",
    "qe_identity",
    "qe_identity_signature",
)
DCAP_QVL_OPTIONAL: Final = ("pck_crl_issuer_chain", "root_ca_crl", "pck_crl")
_DCAP_QVL_HINT = (
    "expected dcap-qvl QuoteCollateralV3 JSON: string fields "
    + ", ".join(DCAP_QVL_REQUIRED + DCAP_QVL_OPTIONAL)
    + " and nothing else"
)


def _collateral_error(message: str) -> MalformedInputError:
    return MalformedInputError(message, component="tdx-collateral", hint=_DCAP_QVL_HINT)


def _check_members(doc: Mapping[str, Any]) -> None:
    """Exactly dcap-qvl's fields: a renamed or unknown one (e.g. ``pck_crl_x``) is an error,
    never a silently absent CRL; every value is a non-empty string."""
    unknown = sorted(set(doc) - set(DCAP_QVL_REQUIRED) - set(DCAP_QVL_OPTIONAL))
    if unknown:
        raise _collateral_error(
            f"collateral JSON has unknown field(s) {', '.join(map(repr, unknown))}"
        )
    missing = [key for key in DCAP_QVL_REQUIRED if key not in doc]
    if missing:
        raise _collateral_error(f"collateral JSON lacks {', '.join(map(repr, missing))}")
    for key, value in doc.items():
        if not isinstance(value, str):
            raise _collateral_error(f"collateral {key!r} must be a string, not {_json_type(value)}")
        if not value:
            raise _collateral_error(
                f"collateral {key!r} is empty (omit a CRL field rather than leaving it empty)"
            )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _hex_der(doc: Mapping[str, Any], key: str) -> bytes | None:
    """A hex-encoded DER field (no spaces, even length), or None when the field is absent."""
    if key not in doc:
        return None
    value = doc[key]
    if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", value):
        raise _collateral_error(f"collateral {key!r} is not hex (an even number of hex digits)")
    return bytes.fromhex(value)


def _utf8(text: str, key: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedInputError(
            f"collateral {key!r} is not valid Unicode text", component="tdx-collateral"
        ) from exc


def _pem_field(doc: Mapping[str, Any], key: str) -> bytes:
    return _check_pem_chain(_utf8(doc[key], key), key)


def load_dcap_qvl_collateral(data: bytes) -> TdxCollateral:
    """Load dcap-qvl's ``QuoteCollateralV3`` JSON, strictly (:func:`_check_members`).

    The CRL fields may be absent (older samples lack them); the pipeline then fails revocation
    unless the policy sets ``allow_collateral_without_crl``.
    """
    doc = _load_json_object(data, "collateral JSON")
    _check_members(doc)
    tcb_body = _utf8(doc["tcb_info"], "tcb_info")
    qe_body = _utf8(doc["qe_identity"], "qe_identity")
    pck_chain = _pem_field(doc, "pck_crl_issuer_chain") if "pck_crl_issuer_chain" in doc else None
    return TdxCollateral(
        tcb_info=Signed(
            TcbInfo.parse(tcb_body),
            SignedJson(tcb_body, _signature_hex(doc["tcb_info_signature"], "tcb_info_signature")),
            _pem_field(doc, "tcb_info_issuer_chain"),
        ),
        qe_identity=Signed(
            QeIdentity.parse(qe_body),
            SignedJson(
                qe_body, _signature_hex(doc["qe_identity_signature"], "qe_identity_signature")
            ),
            _pem_field(doc, "qe_identity_issuer_chain"),
        ),
        pck_crl=_hex_der(doc, "pck_crl"),
        pck_crl_issuer_chain=pck_chain,
        root_ca_crl=_hex_der(doc, "root_ca_crl"),
        source="dcap-qvl collateral JSON",
    )


# File names accepted by load_collateral_dir (case-insensitive), first = Cairn's own name.
DIR_FILE_NAMES: Mapping[str, Sequence[str]] = {
    "tcb_info": ("tcb_info.json", "tcbinfo.json", "sample_tcbinfo_response", "tcbinfo"),
    "qe_identity": (
        "qe_identity.json",
        "qeidentity.json",
        "sample_qeidentity_response",
        "qeidentity",
    ),
    "tcb_info_issuer_chain": (
        "tcb_info_issuer_chain.pem",
        "tcb_signing_chain.pem",
        "tcbsigningchain.pem",
    ),
    "qe_identity_issuer_chain": (
        "qe_identity_issuer_chain.pem",
        "tcb_signing_chain.pem",
        "tcbsigningchain.pem",
    ),
    "pck_crl": ("pck_crl.der", "pckcrl.der", "pckcrl", "pck_crl.pem", "pck_crl.crl"),
    "pck_crl_issuer_chain": ("pck_crl_issuer_chain.pem", "pckcrlsigningchain.pem"),
    "root_ca_crl": (
        "root_ca_crl.der",
        "rootcrl.der",
        "rootcrl",
        "root_ca_crl.pem",
        "root_ca_crl.crl",
    ),
}


def _find(files: Mapping[str, bytes], role: str) -> bytes | None:
    """The one file of ``role``; two candidates (e.g. ``pck_crl.der`` and ``pckcrl``) are an
    error rather than a silent choice."""
    found = [name for name in DIR_FILE_NAMES[role] if name in files]
    if len(found) > 1:
        raise MalformedInputError(
            f"the collateral directory has {len(found)} files for the {role}: " + ", ".join(found),
            component="tdx-collateral",
            hint="keep exactly one file per document",
        )
    return files[found[0]] if found else None


def _read(path: Path) -> bytes:
    """One collateral file, bounded like every input (:mod:`cairn_verifier.input_files`)."""
    return read_input_file(path, "collateral file", component="tdx-collateral")


def _read_dir(path: Path) -> dict[str, bytes]:
    """The files of a PCS directory with a known name (lower-cased), bounded in count and size."""
    known = {name for names in DIR_FILE_NAMES.values() for name in names}
    listed = list_input_directory(
        path, "collateral", accept=lambda name: name.lower() in known, component="tdx-collateral"
    )
    read = read_directory_files(listed, "collateral file", component="tdx-collateral")
    return {file.path.name.lower(): file.data for file in read}


def crl_to_der(data: bytes, what: str) -> bytes:
    """A CRL given as DER, PEM ("X509 CRL") or hex text, returned as DER."""
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN X509 CRL-----"):
        match = re.search(rb"-----BEGIN X509 CRL-----(.*?)-----END X509 CRL-----", stripped, re.S)
        if match is None:
            raise MalformedInputError(f"{what}: unterminated PEM CRL", component="tdx-collateral")
        try:
            return base64.b64decode(b"".join(match.group(1).split()), validate=True)
        except binascii.Error as exc:
            raise MalformedInputError(
                f"{what}: bad base64 in PEM CRL", component="tdx-collateral"
            ) from exc
    if stripped[:1] == b"\x30":
        return data
    if re.fullmatch(rb"[0-9A-Fa-f]+", stripped):
        try:
            return bytes.fromhex(stripped.decode())
        except ValueError as exc:
            raise MalformedInputError(f"{what}: bad hex CRL", component="tdx-collateral") from exc
    raise MalformedInputError(f"{what} is neither DER, PEM nor hex", component="tdx-collateral")


def load_collateral_dir(path: Path) -> TdxCollateral:
    """Load raw Intel PCS files from a directory (names: :data:`DIR_FILE_NAMES`).

    ``tcb_info.json`` / ``qe_identity.json`` are the PCS response bodies as served; chains are
    PEM files (the decoded ``*-Issuer-Chain`` headers); CRLs DER, PEM or hex. go-tdx-guest's
    test-data names (``sample_tcbInfo_response``, ``pckcrl``, ``rootcrl.der``) are accepted too.
    """
    if not path.is_dir():
        raise MalformedInputError(f"{path} is not a directory", component="tdx-collateral")
    files = _read_dir(path)
    tcb_data, qe_data = _find(files, "tcb_info"), _find(files, "qe_identity")
    if tcb_data is None or qe_data is None:
        missing = [
            DIR_FILE_NAMES[r][0]
            for r, p in (("tcb_info", tcb_data), ("qe_identity", qe_data))
            if p is None
        ]
        raise MalformedInputError(
            f"collateral directory {path} lacks {', '.join(missing)}",
            component="tdx-collateral",
            hint=_PCS_HINT,
        )

    def optional(role: str) -> bytes | None:
        return _find(files, role)

    pck_crl, root_crl = optional("pck_crl"), optional("root_ca_crl")
    pck_chain = optional("pck_crl_issuer_chain")
    return TdxCollateral(
        tcb_info=load_pcs_tcb_info(tcb_data, optional("tcb_info_issuer_chain")),
        qe_identity=load_pcs_qe_identity(qe_data, optional("qe_identity_issuer_chain")),
        pck_crl=crl_to_der(pck_crl, "PCK CRL") if pck_crl is not None else None,
        pck_crl_issuer_chain=_check_pem_chain(pck_chain, "PCK CRL issuer chain")
        if pck_chain
        else None,
        root_ca_crl=crl_to_der(root_crl, "Root CA CRL") if root_crl is not None else None,
        source=f"PCS files in {path}",
    )


def load_collateral_path(path: Path) -> TdxCollateral:
    """A directory of PCS files, or one dcap-qvl collateral JSON file."""
    if path.is_dir():
        return load_collateral_dir(path)
    collateral = load_dcap_qvl_collateral(_read(path))
    return dataclasses.replace(collateral, source=f"{path} (dcap-qvl collateral JSON)")
