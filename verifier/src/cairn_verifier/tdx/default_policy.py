"""The ``[tdx]`` policy a verification without a policy file uses, as plain values.

:class:`~.policy.TdxPolicy` (pydantic) validates policy files; its defaults are these, field for
field (``tests/verifier/test_default_policies.py`` keeps the two equal). ``cairn verify tdx``
without ``--policy`` reads this instead, so that it need not import pydantic to start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from .tcb_info import TcbStatus

if TYPE_CHECKING:
    from .policy import TdxPolicy


@dataclass(frozen=True, slots=True)
class DefaultTdxPolicy:
    """``TdxPolicy()``: fail-closed defaults, nothing about a particular TD pinned."""

    accepted_tcb_statuses: tuple[TcbStatus, ...] = (TcbStatus.UP_TO_DATE,)
    allowed_advisories: tuple[str, ...] | None = None
    mr_td: tuple[bytes, ...] = ()
    rtmr0: bytes | None = None
    rtmr1: bytes | None = None
    rtmr2: bytes | None = None
    rtmr3: bytes | None = None
    kernel_sha384: tuple[bytes, ...] = ()
    mr_config_id: bytes | None = None
    mr_owner: bytes | None = None
    mr_owner_config: bytes | None = None
    mr_service_td: bytes | None = None
    report_data: bytes | None = None
    allow_debug: bool = False
    require_sept_ve_disable: bool = True
    xfam: bytes | None = None
    require_crl: bool = False
    allow_collateral_without_crl: bool = False


AnyTdxPolicy: TypeAlias = "TdxPolicy | DefaultTdxPolicy"
"""What the TDX pipeline reads a policy from: a validated policy file, or the defaults."""
