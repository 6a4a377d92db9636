"""Read an event log in whichever form a user holds it, and say which form that was.

Forms: the raw binary TCG log (``binary_bios_measurements``), the same base64-encoded (as
evidence bundles and keylime carry it), a CCEL (raw ACPI table data), dstack's JSON event log,
or a dstack GetQuote answer (a JSON object whose ``event_log`` member holds that JSON). Binary
logs are TCG logs unless ``kind="ccel"``, or unless ``kind="auto"`` and the log is SHA-384
only and ends in a CCEL's fill bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Final, Literal

from ..documents import unique_members
from ..errors import ParseError
from .ccel import parse_ccel, parse_dstack_event_log
from .events import COMPONENT, MAX_LOG_BYTES, SHA384, EventLog
from .tcg import parse_tcg_log

LogKind = Literal["auto", "tcg", "ccel", "dstack"]
KINDS: Final = ("auto", "tcg", "ccel", "dstack")
_BASE64: Final = re.compile(rb"[A-Za-z0-9+/=\s]+")


def _json_log(data: bytes) -> EventLog:
    stripped = data.lstrip()
    if stripped.startswith(b"{"):
        try:
            document = json.loads(data, object_pairs_hook=unique_members)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"not JSON: {exc}", component=COMPONENT, field="event log") from None
        inner = document.get("event_log") if isinstance(document, dict) else None
        if not isinstance(inner, str):
            raise ParseError(
                "a JSON object holding an event log has an 'event_log' string member",
                component=COMPONENT,
                field="event_log",
            )
        return parse_dstack_event_log(inner)
    return parse_dstack_event_log(data)


def binary_log(data: bytes) -> bytes:
    """The log's bytes: base64 text is decoded, anything else taken as it is."""
    if data[:1] in (b"\x00", b"\x01", b"\x02", b"\x03", b"\x04") or not _BASE64.fullmatch(data):
        return data
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ParseError(
            "the file looks like base64 but does not decode", component=COMPONENT, field="event log"
        ) from None


def read_event_log(data: bytes, kind: LogKind = "auto") -> tuple[EventLog, str]:
    """Parse ``data``; return the log and the form it was read as (for the output)."""
    if len(data) > 2 * MAX_LOG_BYTES:
        raise ParseError("the event log file is too large", component=COMPONENT, field="event log")
    if kind == "dstack" or (kind == "auto" and data.lstrip()[:1] in (b"[", b"{")):
        return _json_log(data), "dstack JSON event log"
    raw = binary_log(data)
    encoded = "base64 " if raw is not data else ""
    if kind == "ccel":
        return parse_ccel(raw), f"{encoded}CCEL (TDX)"
    log = parse_tcg_log(raw, allow_fill=kind == "auto")
    sha384_only = [bank.name for bank in log.banks] == [SHA384.name]
    if kind == "auto" and sha384_only and log.trailing_fill:
        return parse_ccel(raw), f"{encoded}CCEL (TDX; SHA-384 log followed by fill bytes)"
    if log.trailing_fill:
        log = parse_tcg_log(raw)  # raises: a TPM log has no fill
    layout = "crypto-agile" if log.spec else "SHA-1"
    return log, f"{encoded}TCG PC Client event log ({layout})"
