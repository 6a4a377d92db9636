"""Mutations of real inputs: byte-level (flips, interesting values, insertions, truncation,
splices) and structure-aware for JSON and TOML (type swaps, huge numbers, deep nesting, dropped
or duplicated keys). Every function takes a :class:`random.Random`, so a seed reproduces a run
and hypothesis can drive it."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from typing import Any

INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF)
INTERESTING_INTS = (0, 1, -1, 2**7, 2**8, 2**15, 2**16, 2**31 - 1, 2**32 - 1, 2**63, 2**64)
HUGE_NUMBERS = ("1" * 5000, "9" * 25, "-" + "9" * 25, "1e400", "-0", "0.5", "1E2")
JSON_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    2**64,
    1.5,
    "",
    "x",
    "00" * 64,
    [],
    {},
    [[[]]],
    {"": None},
)
TOML_TOKENS = (
    "true",
    '"yes"',
    "1",
    '"1"',
    "1.0",
    "-1",
    "24",
    "0x10",
    "[]",
    "{}",
    '""',
    "'single'",
    "1979-05-27",
    "inf",
    "nan",
    "9" * 30,
    '"' + "0" * 96 + '"',
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
)

Mutator = Callable[[bytes, random.Random, Sequence[bytes]], bytes]


def _position(data: bytes, rng: random.Random) -> int:
    return rng.randrange(len(data) + 1)


def flip_bit(data: bytes, rng: random.Random, _: Sequence[bytes]) -> bytes:
    if not data:
        return b"\x00"
    index = rng.randrange(len(data))
    return data[:index] + bytes([data[index] ^ (1 << rng.randrange(8))]) + data[index + 1 :]


def set_byte(data: bytes, rng: random.Random, _: Sequence[bytes]) -> bytes:
    if not data:
        return bytes([rng.choice(INTERESTING_BYTES)])
    index = rng.randrange(len(data))
    value = rng.choice(INTERESTING_BYTES) if rng.random() < 0.5 else rng.randrange(256)
    return data[:index] + bytes([value]) + data[index + 1 :]


def set_integer(data: bytes, rng: random.Random, _: Sequence[bytes]) -> bytes:
    """An interesting 16/32/64-bit value over a length or count field."""
    width = rng.choice((2, 4, 8))
    value = rng.choice(INTERESTING_INTS) % (1 << (8 * width))
    raw = value.to_bytes(width, rng.choice(("little", "big")))
    index = _position(data, rng)
    return data[:index] + raw + data[index + width :]


def insert_bytes(data: bytes, rng: random.Random, _: Sequence[bytes]) -> bytes:
    index = _position(data, rng)
    chunk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return data[:index] + chunk + data[index:]


def delete_range(data: bytes, rng: random.Random, _: Sequence[bytes]) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, max(1, len(data) // 8)) :]


def duplicate_range(data: bytes, rng: random.Random, _: Sequence[bytes]) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    chunk = data[start : start + rng.randint(1, 64)]
    index = _position(data, rng)
    return data[:index] + chunk * rng.randint(1, 4) + data[index:]


def truncate(data: bytes, rng: random.Random, _: Sequence[bytes]) -> bytes:
    return data[: _position(data, rng)]


def splice(data: bytes, rng: random.Random, others: Sequence[bytes]) -> bytes:
    if not others:
        return data
    other = rng.choice(others)
    cut, other_cut = _position(data, rng), _position(other, rng)
    return data[:cut] + other[other_cut:]


def _mutate_json_value(value: Any, rng: random.Random, depth: int = 0) -> Any:
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        roll = rng.random()
        copy = dict(value)
        if roll < 0.15:
            del copy[key]
        elif roll < 0.25:
            copy[key + "_extra"] = rng.choice(JSON_VALUES)
        else:
            copy[key] = _mutate_json_value(value[key], rng, depth + 1)
        return copy
    if isinstance(value, list) and value and rng.random() < 0.7:
        copy = list(value)
        index = rng.randrange(len(copy))
        roll = rng.random()
        if roll < 0.15:
            del copy[index]
        elif roll < 0.3:
            copy.insert(index, copy[index])
        else:
            copy[index] = _mutate_json_value(copy[index], rng, depth + 1)
        return copy
    if isinstance(value, str) and value and rng.random() < 0.5:
        index = rng.randrange(len(value))
        return value[:index] + rng.choice("0fg-:/ .\x00é") + value[index + 1 :]
    if isinstance(value, bool | int) and rng.random() < 0.5:
        return rng.choice(INTERESTING_INTS) * rng.choice((1, -1))
    roll = rng.random()
    if roll < 0.2:
        return [value]
    if roll < 0.3:
        return {"x": value}
    return rng.choice(JSON_VALUES)


def mutate_json(data: bytes, rng: random.Random, _: Sequence[bytes]) -> bytes:
    """Change one node of a JSON document (type, value, presence) and re-encode it."""
    try:
        document = json.loads(data)
        text = json.dumps(_mutate_json_value(document, rng), indent=rng.choice((None, 1)))
    except (ValueError, RecursionError):  # not JSON (any more), or nested too deeply for json
        return set_byte(data, rng, ())
    if rng.random() < 0.15:  # a number JSON can carry but Python's limits may not
        text = re.sub(r"(?<![\w.\"])-?\d+(?![\w.\"])", rng.choice(HUGE_NUMBERS), text, count=1)
    return text.encode()


def mutate_toml(data: bytes, rng: random.Random, _: Sequence[bytes]) -> bytes:
    """Replace the value of one ``key = value`` line of a TOML document (or add a line)."""
    lines = data.decode("utf-8", errors="replace").splitlines()
    assignments = [i for i, line in enumerate(lines) if "=" in line and not line.startswith("#")]
    token = rng.choice(TOML_TOKENS)
    if assignments and rng.random() < 0.8:
        index = rng.choice(assignments)
        key = lines[index].split("=", 1)[0]
        lines[index] = f"{key}= {token}"
    else:
        lines.insert(
            rng.randrange(len(lines) + 1), f"{rng.choice(('a', 'allow_debug', '7'))} = {token}"
        )
    return ("\n".join(lines) + "\n").encode()


def deepen(data: bytes, rng: random.Random, _: Sequence[bytes]) -> bytes:
    """Wrap the whole input in many brackets (JSON) or nest a TOML value deeply."""
    depth = rng.choice((33, 100, 5000))
    if data.lstrip().startswith((b"{", b"[")):
        return b"[" * depth + data + b"]" * depth
    return data + b"\nz = " + b"[" * depth + b"]" * depth + b"\n"


BYTE_MUTATORS: tuple[Mutator, ...] = (
    flip_bit,
    set_byte,
    set_integer,
    insert_bytes,
    delete_range,
    duplicate_range,
    truncate,
    splice,
)
TEXT_MUTATORS: tuple[Mutator, ...] = (mutate_json, mutate_toml, deepen)


def is_text(data: bytes) -> bool:
    return data[:1] in (b"{", b"[", b"#", b"-") or data.lstrip()[:1] in (b"{", b"[")


def mutate(data: bytes, rng: random.Random, others: Sequence[bytes] = ()) -> bytes:
    """One to four mutations of ``data``; text documents get structure-aware ones more often."""
    result = data
    for _ in range(rng.choice((1, 1, 1, 2, 4))):
        structured = is_text(result) and rng.random() < 0.6
        mutator = rng.choice(TEXT_MUTATORS if structured else BYTE_MUTATORS)
        result = mutator(result, rng, others)
    return result
