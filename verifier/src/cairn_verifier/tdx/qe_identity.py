"""Intel TD_QE identity, version 2 (``enclaveIdentity`` with ``id`` "TD_QE").

As served by Intel PCS ``/tdx/certification/v4/qe/identity`` (the signed ``enclaveIdentity``
object; the envelope and signature are :mod:`.signed_json`'s): the expected signer, attributes
and MISCSELECT of the TD quoting enclave, and its TCB levels by ISVSVN.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..records import Record
from .json_fields import Fields, load_json_object
from .tcb_info import IdentityTcbLevel, TcbStatus, check_window, parse_identity_levels

TD_QE_IDENTITY_ID = "TD_QE"
TD_QE_IDENTITY_VERSION = 2
_NOT_TD_QE_HINT = (
    "the SGX QE identity cannot appraise a TDX quote: "
    "fetch /tdx/certification/v4/qe/identity from Intel PCS"
)

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


class QeIdentity(Record):
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

    __slots__ = (
        "attributes",
        "attributes_mask",
        "id",
        "issue_date",
        "isvprodid",
        "miscselect",
        "miscselect_mask",
        "mrsigner",
        "next_update",
        "tcb_evaluation_data_number",
        "tcb_levels",
        "version",
    )

    def __init__(  # noqa: PLR0917
        self,
        id: str,
        version: int,
        issue_date: datetime,
        next_update: datetime,
        tcb_evaluation_data_number: int,
        miscselect: int,
        miscselect_mask: int,
        attributes: bytes,
        attributes_mask: bytes,
        mrsigner: bytes,
        isvprodid: int,
        tcb_levels: tuple[IdentityTcbLevel, ...],
    ) -> None:
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "issue_date", issue_date)
        object.__setattr__(self, "next_update", next_update)
        object.__setattr__(self, "tcb_evaluation_data_number", tcb_evaluation_data_number)
        object.__setattr__(self, "miscselect", miscselect)
        object.__setattr__(self, "miscselect_mask", miscselect_mask)
        object.__setattr__(self, "attributes", attributes)
        object.__setattr__(self, "attributes_mask", attributes_mask)
        object.__setattr__(self, "mrsigner", mrsigner)
        object.__setattr__(self, "isvprodid", isvprodid)
        object.__setattr__(self, "tcb_levels", tcb_levels)

    @classmethod
    def parse(cls, data: bytes) -> QeIdentity:
        """Parse the signed ``enclaveIdentity`` object text (not the PCS envelope)."""
        return _parse_qe_identity(load_json_object(data, "QE identity"))

    def sorted_levels(self) -> tuple[IdentityTcbLevel, ...]:
        return tuple(sorted(self.tcb_levels, key=lambda lvl: lvl.isv_svn, reverse=True))

    def check_current(self, at: datetime) -> None:
        """Raise :class:`ChainError` unless ``issue_date <= at <= next_update``."""
        check_window("QEIdentity", self.issue_date, self.next_update, at)


def _parse_qe_identity(obj: dict[str, Any]) -> QeIdentity:
    f = Fields(obj, "enclaveIdentity")
    f.check_document("QE identity", TD_QE_IDENTITY_ID, TD_QE_IDENTITY_VERSION, hint=_NOT_TD_QE_HINT)
    return QeIdentity(
        id=TD_QE_IDENTITY_ID,
        version=TD_QE_IDENTITY_VERSION,
        issue_date=f.date("issueDate"),
        next_update=f.date("nextUpdate"),
        tcb_evaluation_data_number=f.integer("tcbEvaluationDataNumber", 0xFFFFFFFF),
        miscselect=int.from_bytes(f.hexbytes("miscselect", 4), "little"),
        miscselect_mask=int.from_bytes(f.hexbytes("miscselectMask", 4), "little"),
        attributes=f.hexbytes("attributes", 16),
        attributes_mask=f.hexbytes("attributesMask", 16),
        mrsigner=f.hexbytes("mrsigner", 32),
        isvprodid=f.integer("isvprodid", 0xFFFF),
        tcb_levels=parse_identity_levels(f, IDENTITY_LEVEL_STATUSES),
    )
