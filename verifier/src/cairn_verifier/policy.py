"""The verification policy: one document with a section per TEE, loadable from TOML or JSON.

A policy says what a relying party accepts. Everything it does not mention falls back to the
fail-closed defaults documented in docs/policy.md (e.g. debug guests are rejected).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError

from .errors import PolicyFileError


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
HexAny = Annotated[bytes, BeforeValidator(_hex_bytes), _to_hex]


class PolicyModel(BaseModel):
    """Base of policy sections: immutable and strict about unknown keys (typos fail loudly)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def read_policy_document(path: Path) -> dict[str, Any]:
    """Read a TOML or JSON policy file into a plain mapping (typed error on failure)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyFileError(f"cannot read policy file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise PolicyFileError(f"policy file {path} is not UTF-8 text") from exc
    stripped = text.lstrip()
    try:
        if path.suffix.lower() == ".json" or stripped.startswith("{"):
            document = json.loads(text)
        else:
            document = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyFileError(f"policy file {path} is neither valid TOML nor JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise PolicyFileError(f"policy file {path} must contain a table/object at the top level")
    return document


def validation_message(
    exc: ValidationError, *, limit: int | None = None, top: str = "(top level)"
) -> str:
    """Summarise a pydantic error as 'field.path: message' parts (no traceback, no URLs).

    ``limit`` keeps the first errors and says how many more there were; ``top`` names an error
    on the document itself.
    """
    errors = exc.errors(include_url=False)
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or top}: {err['msg']}" for err in errors[:limit]
    ]
    if limit is not None and len(errors) > limit:
        parts.append(f"... and {len(errors) - limit} more")
    return "; ".join(parts)
