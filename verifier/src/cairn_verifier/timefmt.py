"""One way to print a time: UTC, whole seconds, ``Z`` (``2025-06-19T10:32:27Z``)."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_time(moment: datetime) -> str:
    """``moment`` in UTC as ISO 8601 without fractional seconds; naive times are taken as UTC."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return aware.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
