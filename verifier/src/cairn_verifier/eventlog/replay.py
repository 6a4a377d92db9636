"""Replay an event log into register values, and compare them with values a quote covers.

Replay starts every register at its reset value and extends it with each event's digest of the
bank, in log order: ``value = H(value ‖ digest)``. Reset values: zero, except TPM PCRs 17-22
(all ones until a dynamic launch) and PCR 0 when an EV_NO_ACTION ``StartupLocality`` event says
the TPM was started from locality 3 or 4 (TCG PFP 10.4.5.3: the last byte is the locality).
EV_NO_ACTION events extend nothing. An event without a digest of a bank (dstack's runtime
events carry none) makes that register *unreplayable* in that bank.

Only the quote makes a value evidence. :func:`compare` takes the values a verified quote covers
(``TpmQuoteResult.trusted_pcr_values()``, or a verified TD quote's RTMRs) and says, per covered
register, whether the log reproduces it (:class:`RegisterResult`). The firmware's log ends when
the OS takes over, so a register the OS may still extend (PCR 8-23, RTMR[3]) that the log does
not reproduce is *unexplained*, not a contradiction (systemd's boot phases on PCR 11 are
recognised and matched); a pre-OS register (PCR 0-7, RTMR[0]-[2]) it does not reproduce is
*mismatched*: the log was altered or is another boot's. A register the log extends but the
quote does not cover is *uncovered*: nothing about its events is proven. A covered register the
log never extends is *undescribed*: its value is proven, the log explains nothing about it.
Only the events of matched registers are verified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ..tpm.structures import HASHES_BY_NAME
from .events import Bank, EventLog, EventType

STARTUP_LOCALITY: Final = b"StartupLocality\x00"
DRTM_PCRS: Final = range(17, 23)
SYSTEMD_PHASE_PCR: Final = 11
SYSTEMD_PHASES: Final = ("enter-initrd", "leave-initrd", "sysinit", "ready")
"""What systemd-pcrphase extends into PCR 11 after the firmware's log ends, in order (each
as the digest of its name); its own log (/run/log/systemd/tpm2-measure.log) is not carried."""

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
    """One covered register: the quoted value, what the log replays to, and the verdict.

    ``status``: ``matched`` (the log extends it and reproduces the quoted value, possibly after
    systemd's boot phases on PCR 11: ``after_boot``), ``mismatched`` (the log extends a register
    the firmware closes before the OS runs — PCR 0-7, RTMR[0]-[2] — and does not reproduce it),
    ``unexplained`` (the same for a register the OS may extend after the log ends — PCR 8-23,
    RTMR[3]), ``undescribed`` (the log never extends it).
    """

    bank: str
    index: int
    quoted: bytes
    replayed: bytes | None
    """None when the log never extends the register (or cannot be replayed in this bank)."""
    events: tuple[int, ...]
    status: str
    after_boot: tuple[str, ...] = ()
    """systemd boot phases extended after the log's events (PCR 11 only)."""

    @property
    def described(self) -> bool:
        return self.status != "undescribed"

    @property
    def matches(self) -> bool:
        return self.status == "matched"


@dataclass(frozen=True)
class Comparison:
    """The outcome of :func:`compare` (see the module docstring)."""

    register_kind: str
    results: tuple[RegisterResult, ...]
    uncovered: tuple[Key, ...]

    def _with(self, status: str) -> tuple[RegisterResult, ...]:
        return tuple(r for r in self.results if r.status == status)

    @property
    def matched(self) -> tuple[RegisterResult, ...]:
        return self._with("matched")

    @property
    def mismatched(self) -> tuple[RegisterResult, ...]:
        """Pre-OS registers the log does not reproduce: the log was altered or is another
        boot's."""
        return self._with("mismatched")

    @property
    def unexplained(self) -> tuple[RegisterResult, ...]:
        """OS registers the log does not reproduce: extended after the log ended, or altered."""
        return self._with("unexplained")

    @property
    def undescribed(self) -> tuple[RegisterResult, ...]:
        return self._with("undescribed")

    @property
    def ok(self) -> bool:
        """No pre-OS register contradicts the log, and at least one register matches."""
        return bool(self.matched) and not self.mismatched

    def verified_events(self) -> frozenset[int]:
        """Numbers of the events in registers whose replay matched a covered value."""
        return frozenset(number for result in self.matched for number in result.events)


def closed_before_the_os(kind: str, index: int) -> bool:
    """Whether firmware alone extends the register (its log then explains all of it): PCR 0-7
    (closed by EV_SEPARATOR before the boot loader runs), RTMR[0]-[2]."""
    return index <= 7 if kind == "pcr" else index <= 2


def _systemd_phases(bank: str, value: bytes, quoted: bytes) -> tuple[str, ...] | None:
    """The systemd-pcrphase phases that take PCR 11 from ``value`` to ``quoted``, if any."""
    if bank not in HASHES_BY_NAME:
        return None
    algorithm = HASHES_BY_NAME[bank]
    for count in range(1, len(SYSTEMD_PHASES) + 1):
        value = algorithm.digest(value + algorithm.digest(SYSTEMD_PHASES[count - 1].encode()))
        if value == quoted:
            return SYSTEMD_PHASES[:count]
    return None


def _result(
    kind: str, key: Key, quoted: bytes, value: bytes | None, events: tuple[int, ...]
) -> RegisterResult:
    bank, index = key
    if value is None or not events:
        return RegisterResult(bank, index, quoted, value, events, "undescribed")
    if value == quoted:
        return RegisterResult(bank, index, quoted, value, events, "matched")
    if kind == "pcr" and index == SYSTEMD_PHASE_PCR:
        phases = _systemd_phases(bank, value, quoted)
        if phases is not None:
            return RegisterResult(bank, index, quoted, value, events, "matched", phases)
    status = "mismatched" if closed_before_the_os(kind, index) else "unexplained"
    return RegisterResult(bank, index, quoted, value, events, status)


def compare(replayed: Replay, covered: Mapping[Key, bytes]) -> Comparison:
    """Compare ``replayed`` with the values a verified quote covers (and nothing else)."""
    results = tuple(
        _result(
            replayed.register_kind,
            key,
            quoted,
            replayed.values.get(key),
            replayed.events.get(key, ()),
        )
        for key, quoted in sorted(covered.items())
    )
    uncovered = tuple(sorted(key for key in replayed.events if key not in covered))
    return Comparison(replayed.register_kind, results, uncovered)
