"""Appraise an authenticated TD report against a :class:`TdxPolicy`.

TD attributes and XFAM are policy checks (exit 4); measurement registers and REPORTDATA are
content checks (exit 1).
"""

from __future__ import annotations

from ..check_names import TdxCheck
from ..checks import CheckLog
from ..errors import ExitCode
from .policy import TdxPolicy
from .quote import Quote

CONTENT = ExitCode.CONTENT_MISMATCH
POLICY = ExitCode.POLICY_REJECTED


def appraise_td(
    quote: Quote, policy: TdxPolicy, log: CheckLog, *, report_data: bytes | None
) -> None:
    """TD attributes, XFAM, MRTD, RTMRs, owner/config registers, MRSERVICETD, REPORTDATA."""
    body = quote.body
    attributes = body.td_attributes
    log.check(
        policy.allow_debug or not attributes.debug,
        TdxCheck.DEBUG_DISABLED,
        "TD attributes",
        POLICY,
        "TD is not debuggable" if not attributes.debug else "TD is DEBUGGABLE",
        expected="DEBUG=0",
        actual=f"DEBUG={int(attributes.debug)}",
        hint="a debug TD's memory is readable by the host; relaunch without debug or set "
        "allow_debug = true (never in production)",
    )
    log.check(
        attributes.sept_ve_disable or not policy.require_sept_ve_disable,
        TdxCheck.SEPT_VE_DISABLE,
        "TD attributes",
        POLICY,
        "SEPT_VE_DISABLE is set" if attributes.sept_ve_disable else "SEPT_VE_DISABLE is clear",
        expected="SEPT_VE_DISABLE=1",
        actual=f"SEPT_VE_DISABLE={int(attributes.sept_ve_disable)}",
        hint="without it the host can inject #VE through EPT violations; launch the TD with "
        "SEPT_VE_DISABLE or set require_sept_ve_disable = false",
    )
    if policy.xfam is not None:
        log.check(
            body.xfam.raw == policy.xfam,
            TdxCheck.XFAM,
            "TD attributes",
            POLICY,
            "XFAM equals the policy's value",
            expected=policy.xfam.hex(),
            actual=body.xfam.raw.hex(),
            hint="the TD was launched with different extended CPU features",
        )
    if policy.mr_td:
        log.check(
            body.mr_td in policy.mr_td,
            TdxCheck.MR_TD,
            "TD report",
            CONTENT,
            "MRTD is one the policy accepts",
            expected=" or ".join(m.hex() for m in policy.mr_td),
            actual=body.mr_td.hex(),
            hint="the TD's initial image (firmware) differs from the reference",
        )
    else:
        log.skipped(
            TdxCheck.MR_TD,
            "TD report",
            f"no expected MRTD in the policy (reported {body.mr_td.hex()})",
        )
    registers = {
        "rtmr0": (TdxCheck.RTMR0, body.rtmrs[0]),
        "rtmr1": (TdxCheck.RTMR1, body.rtmrs[1]),
        "rtmr2": (TdxCheck.RTMR2, body.rtmrs[2]),
        "rtmr3": (TdxCheck.RTMR3, body.rtmrs[3]),
        "mr_config_id": (TdxCheck.MR_CONFIG_ID, body.mr_config_id),
        "mr_owner": (TdxCheck.MR_OWNER, body.mr_owner),
        "mr_owner_config": (TdxCheck.MR_OWNER_CONFIG, body.mr_owner_config),
    }
    for name, (check, actual) in registers.items():
        _register(log, check, name, actual, getattr(policy, name))
    if policy.mr_service_td is not None:
        service_td = body.mr_service_td or bytes(48)
        _register(log, TdxCheck.MR_SERVICE_TD, "mr_service_td", service_td, policy.mr_service_td)
    expected = report_data if report_data is not None else policy.report_data
    if expected is None:
        log.skipped(
            TdxCheck.REPORT_DATA, "TD report", "no expected REPORTDATA given (--report-data)"
        )
        return
    log.check(
        body.report_data == expected,
        TdxCheck.REPORT_DATA,
        "TD report",
        CONTENT,
        "REPORTDATA equals the expected value",
        expected=expected.hex(),
        actual=body.report_data.hex(),
        hint="the quote was made for another nonce/key, or it is a replay",
    )


def _register(
    log: CheckLog, check: TdxCheck, name: str, actual: bytes, expected: bytes | None
) -> None:
    if expected is None:
        return
    log.check(
        actual == expected,
        check,
        "TD report",
        CONTENT,
        f"{name.upper()} equals the policy's value",
        expected=expected.hex(),
        actual=actual.hex(),
        hint="the TD's boot chain or configuration differs from the reference values",
    )
