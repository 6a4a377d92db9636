"""Strict reading of Intel's collateral JSON (TCB info, QE identity, dcap-qvl collateral).

A member given twice, a non-JSON constant, a missing member or one of the wrong type or range is
malformed input naming its path (``tcbInfo.tcbLevels[3].tcbDate: …``), never a ``KeyError``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from ..documents import reject_constant, unique_members
from ..errors import MalformedInputError, ParseError

S = TypeVar("S", bound=StrEnum)

#: Where TDX collateral comes from, for hints.
PCS_HINT = (
    "fetch TDX collateral from Intel PCS (/tdx/certification/v4/tcb?fmspc=..., "
    "/tdx/certification/v4/qe/identity) or a PCCS"
)


def load_json_object(data: bytes | str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data, object_pairs_hook=unique_members, parse_constant=reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, huge ints
        raise MalformedInputError(
            f"{what} is not valid JSON: {exc}", component="tdx-collateral"
        ) from exc
    if not isinstance(value, dict):
        raise MalformedInputError(f"{what} must be a JSON object", component="tdx-collateral")
    return value


class Fields:
    """Typed access to one JSON object with path-aware ParseErrors (never KeyError)."""

    def __init__(self, obj: Any, path: str):
        if not isinstance(obj, dict):
            raise ParseError(f"{path} must be a JSON object", component="tdx-collateral")
        self.obj: dict[str, Any] = obj
        self.path = path

    def _fail(self, key: str, message: str) -> ParseError:
        return ParseError(f"{self.path}.{key}: {message}", component="tdx-collateral")

    def check_document(self, what: str, document_id: str, version: int, hint: str) -> None:
        """Refuse any document but ``document_id`` version ``version`` (e.g. an SGX TCB info)."""
        found_id = self.opt_string("id")
        found_version = self.integer("version", 0xFFFFFFFF)
        if found_id != document_id or found_version != version:
            raise MalformedInputError(
                f"{what} is not a {document_id} v{version} structure"
                f" (id {found_id!r}, version {found_version})",
                component="tdx-collateral",
                hint=hint,
            )

    def raw(self, key: str) -> Any:
        if key not in self.obj:
            raise self._fail(key, "missing")
        return self.obj[key]

    def has(self, key: str) -> bool:
        return key in self.obj

    def string(self, key: str) -> str:
        value = self.raw(key)
        if not isinstance(value, str):
            raise self._fail(key, "must be a string")
        return value

    def opt_string(self, key: str) -> str | None:
        return self.string(key) if key in self.obj else None

    def integer(self, key: str, maximum: int) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "must be an integer")
        if not 0 <= value <= maximum:
            raise self._fail(key, f"{value} is outside 0..{maximum}")
        return value

    def hexbytes(self, key: str, size: int) -> bytes:
        text = self.string(key)
        if len(text) != 2 * size or not re.fullmatch(r"[0-9A-Fa-f]*", text):
            raise self._fail(key, f"must be {2 * size} hex digits, got {text!r}")
        return bytes.fromhex(text)

    def date(self, key: str) -> datetime:
        text = self.string(key)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise self._fail(key, f"not an ISO 8601 date: {text!r}") from exc
        if parsed.tzinfo is None:
            raise self._fail(key, f"date without a time zone: {text!r}")
        return parsed.astimezone(UTC)

    def array(self, key: str) -> list[Any]:
        value = self.raw(key)
        if not isinstance(value, list):
            raise self._fail(key, "must be an array")
        return value

    def child(self, key: str) -> Fields:
        return Fields(self.raw(key), f"{self.path}.{key}")

    def advisory_ids(self) -> tuple[str, ...]:
        if "advisoryIDs" not in self.obj:
            return ()
        ids = self.array("advisoryIDs")
        if not all(isinstance(i, str) for i in ids):
            raise self._fail("advisoryIDs", "must be an array of strings")
        return tuple(ids)

    def status(self, key: str, allowed: frozenset[S]) -> S:
        """A TCB status among ``allowed`` (Intel's spelling, e.g. "UpToDate")."""
        text = self.string(key)
        for status in allowed:
            if status.value == text:
                return status
        raise self._fail(key, f"unrecognised TCB status {text!r}")
