"""Replay an event log into register values, and compare them with values a quote covers.

Replay starts every register at its reset value and extends it with each event's digest of the
bank, in log order: ``value = H(value ‖ digest)``. Reset values: zero, except TPM PCRs 17-22
(all ones until a dynamic launch) and PCR 0 when an EV_NO_ACTION ``StartupLocality`` event says
the TPM was started from locality 3 or 4 (TCG PFP 10.4.5.3: the last byte is the locality).
EV_NO_ACTION events extend nothing. An event without a digest of a bank (dstack's runtime
events carry none) makes that register *unreplayable* in that bank.

Only the quote makes a value evidence. :func:`compare` takes the values a verified quote covers
(``TpmQuoteResult.trusted_pcr_values()``, or a verified TD quote's RTMRs) and says, per covered
register, whether the log reproduces it; a register the log extends but the quote does not
cover is listed as *uncovered*: nothing about its events is proven. A covered register the log
never extends is *undescribed*: its value is proven, the log explains nothing about it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .events import Bank, EventLog, EventType

STARTUP_LOCALITY: Final = b"StartupLocality\x00"
DRTM_PCRS: Final = range(17, 23)

Key = tuple[str, int]
"""(bank name, register index): ``("sha256", 7)``, ``("sha384", 2)`` for RTMR[2]."""


@dataclass(frozen=True)
class Replay:
    """Replayed values of every register the log extends, per bank."""

    register_kind: str
    values: Mapping[Key, bytes]
    events: Mapping[Key, tuple[int, ...]]
    """Event numbers that extended each register, in order."""
    unreplayable: tuple[Key, ...]
    """Registers with an event lacking that bank's digest (or a bank Python cannot hash)."""
    initial: Mapping[Key, bytes]
    """Reset values used (for every bank and register seen)."""


def _reset_value(bank: Bank, kind: str, index: int, locality: int | None) -> bytes:
    if kind == "pcr" and index in DRTM_PCRS:
        return b"\xff" * bank.size
    if kind == "pcr" and index == 0 and locality is not None:
        return bytes(bank.size - 1) + bytes([locality])
    return bytes(bank.size)


def _startup_locality(log: EventLog) -> int | None:
    for event in log.events:
        if (
            event.event_type == EventType.EV_NO_ACTION
            and event.register == 0
            and event.data.startswith(STARTUP_LOCALITY)
            and len(event.data) == len(STARTUP_LOCALITY) + 1
        ):
            return event.data[-1]
    return None


def replay(log: EventLog) -> Replay:
    """Replay ``log`` per bank and register (see the module docstring)."""
    locality = _startup_locality(log) if log.register_kind == "pcr" else None
    values: dict[Key, bytes] = {}
    initial: dict[Key, bytes] = {}
    events: dict[Key, list[int]] = {}
    broken: set[Key] = set()
    for event in log.events:
        if not event.extends:
            continue
        for bank in log.banks:
            key = (bank.name, event.register)
            if key not in values:
                initial[key] = values[key] = _reset_value(
                    bank, log.register_kind, event.register, locality
                )
            events.setdefault(key, []).append(event.number)
            digest = event.digests.get(bank.name)
            if digest is None or not bank.supported:
                broken.add(key)
                continue
            values[key] = bank.extend(values[key], digest)
    for key in broken:
        del values[key]
    return Replay(
        log.register_kind,
        values,
        {key: tuple(numbers) for key, numbers in events.items()},
        tuple(sorted(broken)),
        initial,
    )


@dataclass(frozen=True)
class RegisterResult:
    """One covered register: the quoted value and what the log replays to."""

    bank: str
    index: int
    quoted: bytes
    replayed: bytes | None
    """None when the log never extends the register (or cannot be replayed in this bank)."""
    events: tuple[int, ...]

    @property
    def described(self) -> bool:
        return self.replayed is not None and bool(self.events)

    @property
    def matches(self) -> bool:
        return self.replayed == self.quoted


@dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`compare` (see the module docstring for the three kinds)."""

    register_kind: str
    results: tuple[RegisterResult, ...]
    uncovered: tuple[Key, ...]

    @property
    def mismatched(self) -> tuple[RegisterResult, ...]:
        return tuple(r for r in self.results if r.described and not r.matches)

    @property
    def matched(self) -> tuple[RegisterResult, ...]:
        return tuple(r for r in self.results if r.described and r.matches)

    @property
    def undescribed(self) -> tuple[RegisterResult, ...]:
        return tuple(r for r in self.results if not r.described)

    @property
    def ok(self) -> bool:
        """Every covered register the log extends matches, and at least one does."""
        return bool(self.matched) and not self.mismatched

    def verified_events(self) -> frozenset[int]:
        """Numbers of the events in registers whose replay matched a covered value."""
        return frozenset(number for result in self.matched for number in result.events)


def compare(replayed: Replay, covered: Mapping[Key, bytes]) -> Comparison:
    """Compare ``replayed`` with the values a verified quote covers (and nothing else)."""
    results = []
    for (bank, index), quoted in sorted(covered.items()):
        key = (bank, index)
        results.append(
            RegisterResult(
                bank,
                index,
                quoted,
                replayed.values.get(key),
                replayed.events.get(key, ()),
            )
        )
    uncovered = tuple(sorted(key for key in replayed.events if key not in covered))
    return Comparison(replayed.register_kind, tuple(results), uncovered)
