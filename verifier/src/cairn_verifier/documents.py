"""Strict, bounded parsing of JSON and TOML documents (policies, proofs, bundles, collateral).

Python's parsers recurse per nesting level, turn 5,000-digit numbers into errors of their own
(``ValueError``) and, for TOML, spend quadratic time on long dotted keys. Before parsing, a linear
pre-scan bounds the nesting depth (and TOML's dotted-key length); while parsing, integers are
limited in digits, ``NaN``/``Infinity`` and duplicate members are refused; after parsing, every
value is walked (without recursion) to enforce the depth and 64-bit integer limits. Anything
wrong is a :class:`MalformedInputError` (exit 10), never another exception.
"""

from __future__ import annotations

import json
import re
import tomllib
from array import array
from itertools import accumulate
from typing import Any, Final

from .errors import MalformedInputError
from .input_files import ErrorType

MAX_NESTING: Final = 32
"""Deepest nesting of arrays/objects (tables) a document may have."""
MIN_INTEGER: Final = -(1 << 63)
MAX_INTEGER: Final = (1 << 64) - 1
"""Integers must fit in 64 bits (signed or unsigned)."""
_MAX_INTEGER_DIGITS: Final = 20
_INTEGER_RANGE: Final = "holds an integer outside the 64-bit range"
_INT_DIGITS_ERROR: Final = "for integer string conversion"
MAX_DOTTED_KEY_PARTS: Final = MAX_NESTING
"""Longest TOML dotted key (``a.b.c`` has 3 parts)."""

_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")

# JSON strings (escapes skipped), possessive so that no input backtracks.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.S)
# TOML strings and comments, which may hold brackets and dots that are not structure.
_TOML_OPAQUE = re.compile(
    rb"'''.*?'''|\"\"\"(?:[^\\]|\\.)*?\"\"\"|\"(?:[^\"\\\n]++|\\.)*+\"|'[^'\n]*+'|#[^\n]*+",
    re.S,
)
# A run of more than MAX_DOTTED_KEY_PARTS dot-joined tokens (after strings became ``s``).
_LONG_DOTTED_KEY = re.compile(
    rb"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]++(?:[ \t]*+\.[ \t]*+[A-Za-z0-9_-]++){%d}"
    % MAX_DOTTED_KEY_PARTS
)


def _fail(error: ErrorType, what: str, problem: str, component: str | None) -> MalformedInputError:
    return error(f"{what} {problem}", component=component)


def max_bracket_depth(structure: bytes) -> int:
    """Deepest ``[``/``{`` nesting of ``structure`` (strings must already be removed)."""
    steps = array("b", structure.translate(_BRACKETS, _NOT_BRACKETS))
    return max(0, max(accumulate(steps), default=0))


def _check_depth_prescan(
    structure: bytes, what: str, component: str | None, error: ErrorType
) -> None:
    if max_bracket_depth(structure) > MAX_NESTING:
        raise _fail(error, what, f"is nested deeper than {MAX_NESTING} levels", component)


def check_limits(
    value: Any, what: str, *, component: str | None = None, error: ErrorType = MalformedInputError
) -> None:
    """Enforce :data:`MAX_NESTING` and the 64-bit integer range on a parsed document."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_NESTING:
                raise _fail(error, what, f"is nested deeper than {MAX_NESTING} levels", component)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, int) and not MIN_INTEGER <= item <= MAX_INTEGER:
            raise _fail(error, what, _INTEGER_RANGE, component)


def _syntax_error(
    exc: Exception, language: str, what: str, component: str | None, error: ErrorType
) -> MalformedInputError:
    message = str(exc)
    if message == _INTEGER_RANGE or _INT_DIGITS_ERROR in message:  # ours, or sys.int_info's
        return _fail(error, what, _INTEGER_RANGE, component)
    return _fail(error, what, f"is not valid {language}: {message}", component)


def unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` of :func:`json.loads`: a member given twice is a ``ValueError``
    (``duplicate member 'name'``), never "the last one wins". Every JSON reader uses it."""
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate member {name!r}")
        result[name] = value
    return result


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS:
        raise ValueError(_INTEGER_RANGE)
    return int(text)


def reject_constant(name: str) -> Any:
    """``parse_constant`` of :func:`json.loads`: ``NaN`` and ``Infinity`` are not JSON."""
    raise ValueError(f"{name} is not JSON")


def _text(data: bytes | str, what: str, component: str | None, error: ErrorType) -> str:
    if isinstance(data, str):
        return data
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(error, what, "is not UTF-8 text", component) from None


def parse_json(
    data: bytes | str,
    what: str,
    *,
    component: str | None = None,
    error: ErrorType = MalformedInputError,
) -> Any:
    """Parse a JSON document within the limits of this module."""
    text = _text(data, what, component, error)
    raw = text.encode("utf-8") if isinstance(data, str) else bytes(data)
    _check_depth_prescan(_JSON_STRING.sub(b"", raw), what, component, error)
    try:
        value = json.loads(
            text,
            object_pairs_hook=unique_members,
            parse_int=_bounded_int,
            parse_constant=reject_constant,
        )
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise _syntax_error(exc, "JSON", what, component, error) from None
    check_limits(value, what, component=component, error=error)
    return value


def parse_toml(
    data: bytes | str,
    what: str,
    *,
    component: str | None = None,
    error: ErrorType = MalformedInputError,
) -> dict[str, Any]:
    """Parse a TOML document within the limits of this module."""
    text = _text(data, what, component, error)
    structure = _TOML_OPAQUE.sub(b"s", text.encode("utf-8"))
    _check_depth_prescan(structure, what, component, error)
    if _LONG_DOTTED_KEY.search(structure):
        raise _fail(
            error, what, f"has a dotted key of more than {MAX_DOTTED_KEY_PARTS} parts", component
        )
    try:
        value = tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError is a ValueError
        raise _syntax_error(exc, "TOML", what, component, error) from None
    check_limits(value, what, component=component, error=error)
    return value
