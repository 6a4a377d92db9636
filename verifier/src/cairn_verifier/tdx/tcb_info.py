"""Intel TDX TCB info, version 3 (``id`` "TDX"): platform TCB levels, TDX module identities.

As served by Intel PCS ``/tdx/certification/v4/tcb?fmspc=…`` (the signed ``tcbInfo`` object;
the envelope and signature are :mod:`.signed_json`'s), read strictly (:mod:`.json_fields`).
Also what the QE identity (:mod:`.qe_identity`) shares with it: the TCB statuses of Intel and its
QVL, TCB levels keyed by one ISVSVN, and the issueDate..nextUpdate window in which a document is
current (:func:`check_window`, :class:`ChainError`, exit 3).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ..errors import ChainError, ParseError
from ..records import Record
from ..timefmt import iso_time
from .json_fields import PCS_HINT, Fields, load_json_object

TDX_TCB_INFO_ID = "TDX"
TDX_TCB_INFO_VERSION = 3
COMPONENT_COUNT = 16
_NOT_TDX_HINT = (
    "an SGX TCB info cannot appraise a TDX quote: "
    "fetch /tdx/certification/v4/tcb?fmspc=... from Intel PCS"
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


# --------------------------------------------------------------------------- models


class TcbComponent(Record):
    """One SVN of a TCB level, with Intel's optional description (TCB info v3)."""

    svn: int
    category: str | None
    type: str | None

    __slots__ = ("category", "svn", "type")

    def __init__(self, svn: int, category: str | None = None, type: str | None = None) -> None:
        object.__setattr__(self, "svn", svn)
        object.__setattr__(self, "category", category)
        object.__setattr__(self, "type", type)

    def label(self) -> str:
        """'SEAMLDR ACM, OS/VMM' style description, or '' when Intel gives none."""
        return ", ".join(part for part in (self.type, self.category) if part)


class TcbLevel(Record):
    """A platform TCB level: 16 SGX SVNs + PCESVN + 16 TDX SVNs -> status."""

    sgx_components: tuple[TcbComponent, ...]
    pce_svn: int
    tdx_components: tuple[TcbComponent, ...]
    tcb_date: datetime
    tcb_status: TcbStatus
    advisory_ids: tuple[str, ...]

    __slots__ = (
        "advisory_ids",
        "pce_svn",
        "sgx_components",
        "tcb_date",
        "tcb_status",
        "tdx_components",
    )

    def __init__(  # noqa: PLR0917
        self,
        sgx_components: tuple[TcbComponent, ...],
        pce_svn: int,
        tdx_components: tuple[TcbComponent, ...],
        tcb_date: datetime,
        tcb_status: TcbStatus,
        advisory_ids: tuple[str, ...],
    ) -> None:
        object.__setattr__(self, "sgx_components", sgx_components)
        object.__setattr__(self, "pce_svn", pce_svn)
        object.__setattr__(self, "tdx_components", tdx_components)
        object.__setattr__(self, "tcb_date", tcb_date)
        object.__setattr__(self, "tcb_status", tcb_status)
        object.__setattr__(self, "advisory_ids", advisory_ids)

    @property
    def sgx_svns(self) -> tuple[int, ...]:
        return tuple(c.svn for c in self.sgx_components)

    @property
    def tdx_svns(self) -> tuple[int, ...]:
        return tuple(c.svn for c in self.tdx_components)

    def sort_key(self) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
        """QVL's TcbLevel order: SGX SVNs, then PCESVN, then TDX SVNs (compared descending)."""
        return (self.sgx_svns, self.pce_svn, self.tdx_svns)


class IdentityTcbLevel(Record):
    """A TCB level keyed by one ISVSVN (TDX module identity or QE identity)."""

    isv_svn: int
    tcb_date: datetime
    tcb_status: TcbStatus
    advisory_ids: tuple[str, ...]

    __slots__ = ("advisory_ids", "isv_svn", "tcb_date", "tcb_status")

    def __init__(
        self, isv_svn: int, tcb_date: datetime, tcb_status: TcbStatus, advisory_ids: tuple[str, ...]
    ) -> None:
        object.__setattr__(self, "isv_svn", isv_svn)
        object.__setattr__(self, "tcb_date", tcb_date)
        object.__setattr__(self, "tcb_status", tcb_status)
        object.__setattr__(self, "advisory_ids", advisory_ids)


class TdxModule(Record):
    """Expected TDX module signer and attributes (``tdxModule`` of the TCB info)."""

    mrsigner: bytes
    attributes: bytes
    attributes_mask: bytes

    __slots__ = ("attributes", "attributes_mask", "mrsigner")

    def __init__(self, mrsigner: bytes, attributes: bytes, attributes_mask: bytes) -> None:
        object.__setattr__(self, "mrsigner", mrsigner)
        object.__setattr__(self, "attributes", attributes)
        object.__setattr__(self, "attributes_mask", attributes_mask)


class TdxModuleIdentity(Record):
    """One entry of ``tdxModuleIdentities`` (TDX module major version, e.g. ``TDX_01``)."""

    id: str
    mrsigner: bytes
    attributes: bytes
    attributes_mask: bytes
    tcb_levels: tuple[IdentityTcbLevel, ...]

    __slots__ = ("attributes", "attributes_mask", "id", "mrsigner", "tcb_levels")

    def __init__(
        self,
        id: str,
        mrsigner: bytes,
        attributes: bytes,
        attributes_mask: bytes,
        tcb_levels: tuple[IdentityTcbLevel, ...],
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "mrsigner", mrsigner)
        object.__setattr__(self, "attributes", attributes)
        object.__setattr__(self, "attributes_mask", attributes_mask)
        object.__setattr__(self, "tcb_levels", tcb_levels)


class TcbInfo(Record):
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

    __slots__ = (
        "fmspc",
        "id",
        "issue_date",
        "next_update",
        "pce_id",
        "tcb_evaluation_data_number",
        "tcb_levels",
        "tcb_type",
        "tdx_module",
        "tdx_module_identities",
        "version",
    )

    def __init__(  # noqa: PLR0917
        self,
        id: str,
        version: int,
        issue_date: datetime,
        next_update: datetime,
        fmspc: bytes,
        pce_id: bytes,
        tcb_type: int,
        tcb_evaluation_data_number: int,
        tdx_module: TdxModule,
        tdx_module_identities: tuple[TdxModuleIdentity, ...],
        tcb_levels: tuple[TcbLevel, ...],
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "issue_date", issue_date)
        object.__setattr__(self, "next_update", next_update)
        object.__setattr__(self, "fmspc", fmspc)
        object.__setattr__(self, "pce_id", pce_id)
        object.__setattr__(self, "tcb_type", tcb_type)
        object.__setattr__(self, "tcb_evaluation_data_number", tcb_evaluation_data_number)
        object.__setattr__(self, "tdx_module", tdx_module)
        object.__setattr__(self, "tdx_module_identities", tdx_module_identities)
        object.__setattr__(self, "tcb_levels", tcb_levels)

    @classmethod
    def parse(cls, data: bytes) -> TcbInfo:
        """Parse the signed ``tcbInfo`` object text (not the PCS envelope)."""
        return _parse_tcb_info(load_json_object(data, "TCB info"))

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
        check_window("TCBInfo", self.issue_date, self.next_update, at)


# --------------------------------------------------------------------------- parsing


def _parse_components(fields: Fields, key: str) -> tuple[TcbComponent, ...]:
    items = fields.array(key)
    if len(items) != COMPONENT_COUNT:
        raise ParseError(
            f"{fields.path}.{key}: expected {COMPONENT_COUNT} components, got {len(items)}",
            component="tdx-collateral",
        )
    out = []
    for i, item in enumerate(items):
        comp = Fields(item, f"{fields.path}.{key}[{i}]")
        out.append(
            TcbComponent(
                comp.integer("svn", 255), comp.opt_string("category"), comp.opt_string("type")
            )
        )
    return tuple(out)


def parse_identity_levels(
    fields: Fields, allowed: frozenset[TcbStatus]
) -> tuple[IdentityTcbLevel, ...]:
    """The ``tcbLevels`` of a TDX module identity or a QE identity: ISVSVN -> status."""
    levels = []
    for i, item in enumerate(fields.array("tcbLevels")):
        level = Fields(item, f"{fields.path}.tcbLevels[{i}]")
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
    f = Fields(obj, "tcbInfo")
    f.check_document("TCB info", TDX_TCB_INFO_ID, TDX_TCB_INFO_VERSION, hint=_NOT_TDX_HINT)
    tcb_type = f.integer("tcbType", 0xFFFFFFFF)
    if tcb_type != 0:
        raise ParseError(
            f"tcbInfo.tcbType {tcb_type} is not supported (only 0)", component="tdx-collateral"
        )
    module = f.child("tdxModule")
    identities = []
    if f.has("tdxModuleIdentities"):
        for i, item in enumerate(f.array("tdxModuleIdentities")):
            ident = Fields(item, f"tcbInfo.tdxModuleIdentities[{i}]")
            identities.append(
                TdxModuleIdentity(
                    id=ident.string("id"),
                    mrsigner=ident.hexbytes("mrsigner", 48),
                    attributes=ident.hexbytes("attributes", 8),
                    attributes_mask=ident.hexbytes("attributesMask", 8),
                    tcb_levels=parse_identity_levels(ident, MODULE_LEVEL_STATUSES),
                )
            )
        if not identities:
            raise ParseError("tcbInfo.tdxModuleIdentities is empty", component="tdx-collateral")
    levels = []
    for i, item in enumerate(f.array("tcbLevels")):
        level = Fields(item, f"tcbInfo.tcbLevels[{i}]")
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
        version=TDX_TCB_INFO_VERSION,
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


# --------------------------------------------------------------------------- windows


def check_window(what: str, issue: datetime, next_update: datetime, at: datetime) -> None:
    """Raise :class:`ChainError` about document ``what`` unless ``issue <= at <= next_update``."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if issue <= at <= next_update:
        return
    why = "not issued yet" if at < issue else "expired"
    raise ChainError(
        f"not current at {iso_time(at)} "
        f"({why}; valid {iso_time(issue)} .. {iso_time(next_update)})",
        component=what,
        hint=f"{PCS_HINT} that is current, or verify at a time inside the window",
    )
