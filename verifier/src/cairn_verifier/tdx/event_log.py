"""The ``rtmr-event-log`` check: a TD's event log (CCEL or dstack's JSON) replayed against the
RTMRs of its quote.

The log is unsigned: it counts only where its replay reproduces an RTMR of a quote whose
signature chains to the root (the pipeline runs this check only then). Outcomes:

* the quote is not authentic: skipped, nothing in the log is trusted;
* a pre-OS RTMR (0-2) the log extends replays to another value: fails, content mismatch (exit
  1), naming the RTMR and, where the log itself shows it, the first event whose digest is not
  the hash of its own data (an altered event); otherwise which event diverges cannot be known
  from the final value alone, and the message says so;
* RTMR[3], which the OS may extend after the firmware's log ends, not reproduced: named as
  unexplained, its events not verified;
* no RTMR reproduced: skipped, nothing in the log is covered;
* otherwise passes; the measured boot of the matched RTMRs (kernel, initrd, command line, …)
  goes into the claims as ``measured_boot``.
"""

from __future__ import annotations

from typing import Any, Final

from ..check_names import TdxCheck
from ..checks import CheckLog
from ..errors import CairnError, ExitCode
from ..eventlog import BootDescription, EventLog, EventType, compare, describe, parse_ccel, replay
from ..eventlog.replay import Comparison, RegisterResult
from .quote import Quote

CHECK: Final = TdxCheck.RTMR_EVENT_LOG
COMPONENT: Final = "TD event log"
BANK: Final = "sha384"

SELF_DESCRIBING: Final = frozenset(
    {EventType.EV_SEPARATOR, EventType.EV_EFI_ACTION, EventType.EV_ACTION}
)
"""Event types whose digest is, by the TCG PC Client PFP, the hash of the event's own data
(TDVF logs the separator's 4 bytes and the action strings): an event of these whose digest is
not that hash was altered."""


def read_ccel(data: bytes, checks: CheckLog) -> EventLog | None:
    """An evidence bundle's ``tee.event_log`` (a raw CCEL), parsed; one that cannot be read
    fails ``rtmr-event-log`` (exit 10) and the quote is verified without it."""
    try:
        return parse_ccel(data)
    except CairnError as error:
        checks.failed(
            CHECK,
            COMPONENT,
            ExitCode.MALFORMED_INPUT,
            f"tee.event_log cannot be read as a CCEL: {error.message}",
            hint="tee.event_log holds the raw CCEL (/sys/firmware/acpi/tables/data/CCEL): the "
            "bundle was altered or the agent read another file; request fresh evidence",
        )
        return None


def quote_rtmrs(quote: Quote) -> dict[tuple[str, int], bytes]:
    """The RTMRs a quote covers, keyed as :func:`~cairn_verifier.eventlog.replay` keys them."""
    return {(BANK, index): value for index, value in enumerate(quote.body.rtmrs)}


def _names(results: tuple[RegisterResult, ...]) -> str:
    return ", ".join(f"RTMR[{r.index}]" for r in results) or "none"


def first_altered_event(log: EventLog, register: int) -> int | None:
    """The first event extending ``register`` whose digest is not the hash of its own data,
    among the event types where it must be (:data:`SELF_DESCRIBING`); None if none shows it."""
    bank = log.bank(BANK)
    if bank is None or not bank.supported:
        return None
    for event in log.events:
        digest = event.digests.get(BANK)
        if (
            event.register == register
            and event.extends
            and event.event_type in SELF_DESCRIBING
            and event.data
            and digest is not None
            and bank.digest(event.data) != digest
        ):
            return event.number
    return None


def _divergence(log: EventLog, result: RegisterResult) -> str:
    altered = first_altered_event(log, result.index)
    if altered is not None:
        event = log.events[altered]
        return (
            f"event {altered} ({event.type_name}) on RTMR[{result.index}] carries a digest that "
            "is not the SHA-384 of its own data: it was altered"
        )
    return (
        f"which of its {len(result.events)} events diverges cannot be known from the final "
        "value (an event was changed, added, removed or reordered, or the log is another boot's)"
    )


def _summary(comparison: Comparison) -> str:
    parts = [f"the event log replays to the quote's {_names(comparison.matched)}"]
    if comparison.unexplained:
        parts.append(
            f"not reproduced, so their events are not verified: {_names(comparison.unexplained)}"
            " (extended after the firmware's log ended, or the log was altered)"
        )
    unreplayable = tuple(r for r in comparison.undescribed if r.events)
    silent = tuple(r for r in comparison.undescribed if not r.events)
    if unreplayable:
        parts.append(
            f"extended by events without a SHA-384 digest (dstack's runtime events), so not "
            f"replayed: {_names(unreplayable)}"
        )
    if silent:
        parts.append(f"not described by the log: {_names(silent)}")
    return "; ".join(parts)


def check_rtmr_event_log(log: EventLog, quote: Quote, checks: CheckLog) -> dict[str, Any] | None:
    """Record ``rtmr-event-log`` for an authentic ``quote``; return the measured boot the log
    proves (for the claims), or None."""
    if log.register_kind != "rtmr":
        checks.failed(
            CHECK,
            COMPONENT,
            ExitCode.MALFORMED_INPUT,
            f"a {log.format} log extends TPM PCRs, not a TD's RTMRs",
            hint="pass the TD's CCEL (/sys/firmware/acpi/tables/data/CCEL) or dstack's event log",
        )
        return None
    comparison = compare(replay(log), quote_rtmrs(quote))
    if comparison.mismatched:
        first = comparison.mismatched[0]
        checks.failed(
            CHECK,
            COMPONENT,
            ExitCode.CONTENT_MISMATCH,
            f"the event log does not replay to the quote's {_names(comparison.mismatched)}: "
            + _divergence(log, first),
            expected=f"RTMR[{first.index}] = {first.quoted.hex()} (quoted)",
            actual=f"RTMR[{first.index}] = "
            f"{first.replayed.hex() if first.replayed else '(not replayable)'} (replayed)",
            hint="the log does not describe the boot this quote attests: trust nothing in it; "
            "take the log and the quote from the same TD boot",
        )
        return None
    if not comparison.matched:
        checks.skipped(
            CHECK,
            COMPONENT,
            "the event log reproduces none of the quote's RTMRs (not reproduced: "
            f"{_names(comparison.unexplained)}; not described: "
            f"{_names(comparison.undescribed)}): nothing in it is covered",
            hint="pass the firmware's log (the CCEL), which extends RTMR[0]-[2]",
        )
        return None
    checks.passed(CHECK, COMPONENT, _summary(comparison))
    proven = comparison.verified_events()
    description = describe(log, proven)
    verified = [item for item in description.items if item.verified]
    return {
        "rtmrs": [f"RTMR[{r.index}]" for r in comparison.matched],
        "summary": BootDescription(tuple(verified)).summary(),
        "kernel_sha384": kernel_digests(log, proven),
    }


def appraise_kernel(
    accepted: tuple[bytes, ...],
    measured_boot: dict[str, Any] | None,
    checks: CheckLog,
    *,
    log_given: bool,
) -> None:
    """``kernel-sha384``: a kernel the verified log shows on RTMR[1] is one ``accepted`` lists.
    Without a verified log there is nothing to compare: it fails (exit 4), closed."""
    expected = " or ".join(digest.hex() for digest in accepted)
    if measured_boot is None or "RTMR[1]" not in measured_boot["rtmrs"]:
        checks.failed(
            TdxCheck.KERNEL_SHA384,
            COMPONENT,
            ExitCode.POLICY_REJECTED,
            "the policy pins the kernel, and "
            + (
                "the event log did not verify RTMR[1] (rtmr-event-log)"
                if log_given
                else "no event log was given to show it"
            ),
            expected=expected,
            hint="pass the TD's event log (cairn verify tdx --event-log CCEL; the agent sends "
            "its CCEL in the evidence) or pin rtmr1 instead",
        )
        return
    kernels: list[str] = measured_boot["kernel_sha384"]
    accepted_hex = {digest.hex() for digest in accepted}
    checks.check(
        any(kernel in accepted_hex for kernel in kernels),
        TdxCheck.KERNEL_SHA384,
        COMPONENT,
        ExitCode.CONTENT_MISMATCH,
        "the kernel the event log shows on RTMR[1] is one the policy accepts",
        expected=expected,
        actual=" and ".join(kernels) or "(no image loaded into RTMR[1])",
        hint="the TD booted another kernel: compare with cairn reference-values --tdx "
        "(kernel_authenticode) or update kernel_sha384",
    )


def kernel_digests(log: EventLog, verified: frozenset[int]) -> list[str]:
    """SHA-384 digests of the verified images TDVF loaded into RTMR[1]
    (EV_EFI_BOOT_SERVICES_APPLICATION): on a direct boot, the kernel's Authenticode hash, which
    ``cairn reference-values --tdx`` computes as ``kernel_authenticode``."""
    return [
        event.digests[BANK].hex()
        for event in log.events
        if event.number in verified
        and event.register == 1
        and event.event_type == EventType.EV_EFI_BOOT_SERVICES_APPLICATION
        and BANK in event.digests
    ]
