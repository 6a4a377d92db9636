"""The ``tpm-event-log`` check: a bundle's TCG event log replayed against its quoted PCRs.

The log is unsigned: it counts only where its replay reproduces a PCR value the *verified*
quote covers. Outcomes:

* the quote did not verify (or there is none): skipped, nothing in the log is trusted;
* the log cannot be parsed: fails, malformed input (exit 10);
* a quoted pre-OS PCR (0-7) the log extends replays to another value: fails, content mismatch
  (exit 1) — the log does not describe the boot the quote attests;
* a quoted PCR the OS may extend after the log ends (8-23) replays to another value: named as
  unexplained, its events not verified (systemd's boot phases on PCR 11 are recognised);
* no quoted PCR is extended by the log: skipped, nothing in it is covered;
* otherwise passes; the measured boot (events in matched PCRs only) goes into the claims.
  PCRs the log extends but the quote does not select, and quoted PCRs the log never extends,
  are named in the summary: neither is explained by this check.
"""

from __future__ import annotations

from typing import Any, Final

from ..check_names import EvidenceCheck
from ..checks import CheckLog
from ..errors import CairnError, ExitCode
from ..eventlog import BootDescription, compare, describe, parse_tcg_log, replay
from ..eventlog.replay import Comparison, Key
from ..tpm.quote import TpmQuoteResult, format_pcrs

CHECK: Final = EvidenceCheck.TPM_EVENT_LOG
COMPONENT: Final = "TPM quote"
BUNDLE_LOG_HINT: Final = (
    "tpm.event_log holds the raw binary_bios_measurements file: the bundle was altered or the "
    "agent read another file; request fresh evidence"
)


def _pcrs(keys: list[Key]) -> str:
    return format_pcrs(keys) or "none"


def _summary(comparison: Comparison) -> str:
    matched = _pcrs([(r.bank, r.index) for r in comparison.matched])
    parts = [f"the event log replays to quoted PCRs {matched}"]
    for result in comparison.matched:
        if result.after_boot:
            parts.append(
                f"{result.bank}:{result.index} after systemd's boot phases "
                + ", ".join(result.after_boot)
            )
    if comparison.unexplained:
        keys = [(r.bank, r.index) for r in comparison.unexplained]
        parts.append(
            f"not reproduced, so their events are not verified: {_pcrs(keys)} (extended by the "
            "OS after the log ends, or the log was altered)"
        )
    if comparison.uncovered:
        parts.append(
            f"not covered by the quote, so not trusted: {_pcrs(list(comparison.uncovered))}"
        )
    if comparison.undescribed:
        keys = [(r.bank, r.index) for r in comparison.undescribed]
        parts.append(f"quoted but not described by the log: {_pcrs(keys)}")
    return "; ".join(parts)


def check_event_log(
    event_log: bytes | None,
    quote: TpmQuoteResult | None,
    log: CheckLog,
    *,
    component: str = COMPONENT,
    unreadable_hint: str = BUNDLE_LOG_HINT,
) -> dict[str, Any] | None:
    """Record ``tpm-event-log`` on ``component`` (the raw binary log against ``quote``);
    return the verified measured boot for the claims, or None. ``unreadable_hint`` says where
    the log came from, for a log that cannot be parsed."""
    if event_log is None:
        return None
    if quote is None or not quote.ok:
        log.skipped(
            CHECK,
            component,
            f"the {len(event_log)}-byte TCG event log is not replayed: the TPM quote did not "
            "verify, so no PCR value is trusted to compare it with",
        )
        return None
    try:
        parsed = parse_tcg_log(event_log)
    except CairnError as error:
        log.failed(
            CHECK,
            component,
            ExitCode.MALFORMED_INPUT,
            f"the TCG event log cannot be read: {error.message}",
            hint=unreadable_hint,
        )
        return None
    comparison = compare(replay(parsed), quote.trusted_pcr_values())
    if comparison.mismatched:
        first = comparison.mismatched[0]
        log.failed(
            CHECK,
            component,
            ExitCode.CONTENT_MISMATCH,
            "the event log does not replay to the quoted pre-OS PCRs "
            + _pcrs([(r.bank, r.index) for r in comparison.mismatched])
            + ": it does not describe the boot the quote attests",
            expected=f"{first.bank}:{first.index} = {first.quoted.hex()} (quoted)",
            actual=f"{first.bank}:{first.index} = {first.replayed.hex() if first.replayed else ''}"
            " (replayed)",
            hint="an event was changed, added or removed after the quote, or the log is from "
            "another boot: trust nothing in it; request fresh evidence",
        )
        return None
    if not comparison.matched:
        extended = {
            *comparison.uncovered,
            *((r.bank, r.index) for r in comparison.results if r.described),
        }
        log.skipped(
            CHECK,
            component,
            "the event log reproduces none of the quoted PCRs "
            f"(quoted: {_pcrs(list(quote.selected))}; in the log: "
            f"{_pcrs(sorted(extended))}): nothing in it is covered",
            hint="quote the PCRs the firmware measures (the agent's tpm.pcrs, e.g. 0-7)",
        )
        return None
    log.passed(CHECK, component, _summary(comparison))
    description = describe(parsed, comparison.verified_events())
    verified = [item for item in description.items if item.verified]
    return {
        "pcrs": [f"{r.bank}:{r.index}" for r in comparison.matched],
        "summary": BootDescription(tuple(verified)).summary(),
    }
