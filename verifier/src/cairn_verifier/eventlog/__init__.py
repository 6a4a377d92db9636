"""Measurement event logs: parse, replay, compare with quoted registers, describe.

The stable API (other pipelines, e.g. Azure vTPM and TDX evidence, call only these):

* :func:`parse_tcg_log` — a TPM's TCG PC Client log (crypto-agile ``TCG_PCR_EVENT2``, or the
  SHA-1 layout of older firmware); registers are PCRs.
* :func:`parse_ccel` — a TDX guest's CCEL; registers are RTMR indexes.
* :func:`parse_dstack_event_log` — the JSON event log of dstack's TDX attestations.
* :func:`read_event_log` — any of the three, detected from the bytes (``cairn show eventlog``).
* :func:`replay` — register values per bank; :func:`compare` — against the values a *verified*
  quote covers (only those count); :func:`describe` — what was measured, each item marked
  verified when its register's replay matched.

Everything raises only :class:`~cairn_verifier.errors.ParseError` (exit 10) on malformed input;
a mismatch is data (:class:`Comparison`), for the caller to record as a check.
"""

from __future__ import annotations

from .ccel import parse_ccel, parse_dstack_event_log
from .describe import BootDescription, Measured, describe
from .events import Bank, Event, EventLog, EventType, event_type_name
from .read import read_event_log
from .replay import Comparison, RegisterResult, Replay, compare, replay
from .tcg import parse_tcg_log

__all__ = [
    "Bank",
    "BootDescription",
    "Comparison",
    "Event",
    "EventLog",
    "EventType",
    "Measured",
    "RegisterResult",
    "Replay",
    "compare",
    "describe",
    "event_type_name",
    "parse_ccel",
    "parse_dstack_event_log",
    "parse_tcg_log",
    "read_event_log",
    "replay",
]
