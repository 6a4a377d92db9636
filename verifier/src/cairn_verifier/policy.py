"""The verification policy: one document with a section per TEE, loadable from TOML or JSON.

A policy says what a relying party accepts. Everything it does not mention falls back to the
fail-closed defaults documented in docs/policy.md (e.g. debug guests are rejected).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    ValidationError,
)
from pydantic_core import ErrorDetails

from .documents import parse_json, parse_toml
from .errors import PolicyFileError
from .input_files import MAX_DOCUMENT_BYTES, read_input_file


def _hex_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a hex string")
    text = value.strip().lower().removeprefix("0x").replace(":", "").replace(" ", "")
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ValueError(f"not valid hex: {value!r}") from exc


def _nonempty_hex(value: Any) -> bytes:
    raw = _hex_bytes(value)
    if not raw:
        raise ValueError("expected at least one byte of hex, got an empty value")
    return raw


def _sized(size: int) -> BeforeValidator:
    def validate(value: Any) -> bytes:
        raw = _hex_bytes(value)
        if len(raw) != size:
            raise ValueError(f"expected {size} bytes ({2 * size} hex digits), got {len(raw)}")
        return raw

    return BeforeValidator(validate)


_to_hex = PlainSerializer(lambda b: b.hex(), return_type=str)

Hex32 = Annotated[bytes, _sized(32), _to_hex]
Hex48 = Annotated[bytes, _sized(48), _to_hex]
Hex64 = Annotated[bytes, _sized(64), _to_hex]
HexAny = Annotated[bytes, BeforeValidator(_nonempty_hex), _to_hex]
"""Hex of any non-empty length (the field's own validator checks the size)."""

# Scalars are strict: TOML/JSON booleans, integers and strings only, never coerced ("yes",
# 1 or "on" are not booleans; "5" is not an integer), as docs/policy.md promises.
Flag = Annotated[bool, Strict()]
Text = Annotated[str, Strict()]
Byte = Annotated[int, Strict(), Field(ge=0, le=255)]
Uint32 = Annotated[int, Strict(), Field(ge=0, le=0xFFFF_FFFF)]


class PolicyModel(BaseModel):
    """Base of policy sections: immutable and strict about unknown keys (typos fail loudly)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def read_policy_document(path: Path) -> dict[str, Any]:
    """Read a TOML or JSON policy file into a plain mapping (typed error on failure).

    The file is read with the document size cap and parsed within the nesting and integer
    limits of :mod:`cairn_verifier.documents`.
    """
    what = "policy file"
    data = read_input_file(
        path, what, limit=MAX_DOCUMENT_BYTES, allow_empty=True, error=PolicyFileError
    )
    if data.lstrip().startswith(b"{") or path.suffix.lower() == ".json":
        document: Any = parse_json(data, f"{what} {path}", error=PolicyFileError)
    else:
        document = parse_toml(data, f"{what} {path}", error=PolicyFileError)
    if not isinstance(document, dict):
        raise PolicyFileError(f"policy file {path} must contain a table/object at the top level")
    return document


def _location(loc: tuple[int | str, ...]) -> str:
    """``a.b.c``; a failing mapping key is named ``a.b.KEY (key)``."""
    if loc and loc[-1] == "[key]":
        return ".".join(str(p) for p in loc[:-1]) + " (key)"
    return ".".join(str(p) for p in loc)


def validation_message(
    exc: ValidationError, *, limit: int | None = None, top: str = "(top level)"
) -> str:
    """Summarise a pydantic error as 'field.path: message' parts (no traceback, no URLs).

    ``limit`` keeps the first errors and says how many more there were; ``top`` names an error
    on the document itself.
    """
    return describe_errors(exc.errors(include_url=False), limit=limit, top=top)


def describe_errors(
    errors: Sequence[ErrorDetails], *, limit: int | None = None, top: str = "(top level)"
) -> str:
    """:func:`validation_message` of errors a caller has relabelled (e.g. union tags dropped)."""
    parts = [f"{_location(err['loc']) or top}: {err['msg']}" for err in errors[:limit]]
    if limit is not None and len(errors) > limit:
        parts.append(f"... and {len(errors) - limit} more")
    return "; ".join(parts)
