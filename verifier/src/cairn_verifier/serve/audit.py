"""The audit log's hash chain: every entry commits to the one before it.

``hash_n = SHA-256(prev_hash_n || canonical(record_n))`` with ``prev_hash_1`` 32 zero bytes and
``canonical`` the record's JSON with sorted keys, no spaces and ASCII escapes; a record holds its
``seq``, ``at`` (Unix milliseconds), ``event`` and the event's ``detail``. Removing, reordering or
editing an entry breaks every hash after it; the head row (the last seq and hash) catches a
truncated tail. :func:`verify_chain` checks a whole log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import CairnError, ExitCode

GENESIS = "00" * 32


class AuditChainError(CairnError):
    """The audit log's hash chain is broken (``cairn serve audit verify``)."""

    exit_code = ExitCode.CONTENT_MISMATCH


def canonical(record: dict[str, Any]) -> bytes:
    """The exact bytes an entry's hash covers."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def entry_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """``SHA-256(prev_hash || canonical(record))`` as hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical(record)).hexdigest()


@dataclass(frozen=True)
class AuditRow:
    """One stored entry: the record's parts as stored, and its chain hashes."""

    seq: int
    at: int
    event: str
    detail: str
    prev_hash: str
    hash: str

    def record(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "event": self.event,
            "detail": json.loads(self.detail),
        }


@dataclass
class ChainReport:
    """What :func:`verify_chain` found: entries checked and every problem, in order."""

    entries: int = 0
    problems: list[str] = field(default_factory=list)
    head: tuple[int, str] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(rows: Iterable[AuditRow], head: tuple[int, str]) -> ChainReport:
    """Check sequence numbers, links and hashes of every row, and that ``head`` is the last."""
    report = ChainReport(head=head)
    prev_hash, expected_seq = GENESIS, 1
    for row in rows:
        report.entries += 1
        if row.seq != expected_seq:
            report.problems.append(f"entry {row.seq}: expected sequence number {expected_seq}")
        if row.prev_hash != prev_hash:
            report.problems.append(f"entry {row.seq}: does not link to the entry before it")
        try:
            recomputed = entry_hash(row.prev_hash, row.record())
        except (ValueError, TypeError) as exc:
            report.problems.append(f"entry {row.seq}: unreadable ({exc})")
            recomputed = ""
        if recomputed != row.hash:
            report.problems.append(f"entry {row.seq}: its hash does not match its content")
        prev_hash, expected_seq = row.hash, row.seq + 1
    if head != (expected_seq - 1, prev_hash):
        report.problems.append(
            f"the head says the log ends at entry {head[0]}, the log ends at entry "
            f"{expected_seq - 1}: entries were removed or added outside the broker"
        )
    return report
