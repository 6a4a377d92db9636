"""The TDX section of a Cairn policy (``[tdx]`` in a policy file)."""

from __future__ import annotations

from pydantic import Field, field_validator

from ..policy import Flag, Hex48, Hex64, HexAny, PolicyModel, Text
from .tcb_info import TcbStatus


class TdxPolicy(PolicyModel):
    """What a relying party accepts from a TDX guest. Defaults fail closed."""

    accepted_tcb_statuses: tuple[TcbStatus, ...] = (TcbStatus.UP_TO_DATE,)
    """TCB statuses accepted (Intel's names, e.g. "UpToDate", "SWHardeningNeeded")."""
    allowed_advisories: tuple[Text, ...] | None = None
    """Advisory IDs (INTEL-SA-…) tolerated; unset = not checked (reported as skipped)."""
    mr_td: tuple[Hex48, ...] = ()
    """Accepted MRTD values (any one); empty = not checked."""
    rtmr0: Hex48 | None = None
    rtmr1: Hex48 | None = None
    rtmr2: Hex48 | None = None
    rtmr3: Hex48 | None = None
    kernel_sha384: tuple[Hex48, ...] = ()
    """Accepted SHA-384 digests of the kernel TDVF loaded (its Authenticode hash, the
    EV_EFI_BOOT_SERVICES_APPLICATION event on RTMR[1]); needs the TD's event log, verified
    against the quote (``--event-log``, ``tee.event_log``); empty = not checked."""
    mr_config_id: Hex48 | None = None
    mr_owner: Hex48 | None = None
    mr_owner_config: Hex48 | None = None
    mr_service_td: Hex48 | None = None
    report_data: Hex64 | None = None
    allow_debug: Flag = False
    require_sept_ve_disable: Flag = True
    xfam: HexAny | None = Field(default=None, description="exact XFAM (8 bytes, hex)")
    require_crl: Flag = False
    """Never skip revocation: a missing Root CA or PCK CRL fails (exit 5) whatever else is set."""
    allow_collateral_without_crl: Flag = False
    """Accept supplied collateral that lacks the Root CA or PCK CRL, recording revocation as
    skipped. By default such collateral fails revocation (exit 5): whoever supplies collateral
    must not be able to switch revocation off by leaving the CRLs out."""

    @field_validator("xfam")
    @classmethod
    def _xfam_size(cls, value: bytes | None) -> bytes | None:
        if value is not None and len(value) != 8:
            raise ValueError("xfam must be 8 bytes (16 hex digits)")
        return value

    @field_validator("accepted_tcb_statuses")
    @classmethod
    def _not_empty(cls, value: tuple[TcbStatus, ...]) -> tuple[TcbStatus, ...]:
        if not value:
            raise ValueError("accept at least one TCB status")
        return value
