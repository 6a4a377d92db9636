"""Bounded JSON/TOML parsing (issue 11 item 6): depth, integer size, dotted keys, duplicates."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier.binding.smt import Proof
from cairn_verifier.collateral.bundle import parse_bundle
from cairn_verifier.documents import (
    MAX_NESTING,
    check_limits,
    max_bracket_depth,
    parse_json,
    parse_toml,
)
from cairn_verifier.errors import MalformedInputError, ParseError, PolicyFileError
from cairn_verifier.inputs.jsonenv import load_json
from cairn_verifier.tdx.json_fields import load_json_object


def _nested_json(depth: int) -> str:
    return "[" * depth + "]" * depth


def _nested_toml(depth: int) -> str:
    return "a = " + "[" * depth + "]" * depth + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_nested_json(100_000), "nested deeper than 32 levels"),
        (_nested_json(MAX_NESTING + 1), "nested deeper than 32 levels"),
        ('{"a": ' * 40 + "1" + "}" * 40, "nested deeper than 32 levels"),
        ('{"n": ' + "1" * 5000 + "}", "integer outside the 64-bit range"),
        ('{"n": -' + "9" * 25 + "}", "integer outside the 64-bit range"),
        ('{"n": 18446744073709551616}', "integer outside the 64-bit range"),
        ('{"a": 1, "a": 2}', "duplicate member 'a'"),
        ('{"a": NaN}', "NaN is not JSON"),
        ('{"a": -Infinity}', "-Infinity is not JSON"),
        ("{", "is not valid JSON"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
    ],
)
def test_json_limits(text: str | bytes, message: str) -> None:
    data = text if isinstance(text, bytes) else text.encode()
    with pytest.raises(MalformedInputError, match=message):
        parse_json(data, "doc")


def test_json_within_limits_parses() -> None:
    deepest = _nested_json(MAX_NESTING)
    assert parse_json(deepest, "doc") is not None
    assert parse_json('{"n": 18446744073709551615, "m": -9223372036854775808}', "doc") == {
        "n": (1 << 64) - 1,
        "m": -(1 << 63),
    }
    # Brackets inside strings are not structure.
    assert parse_json(json.dumps({"s": "[" * 10_000}), "doc") == {"s": "[" * 10_000}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_nested_toml(100_000), "nested deeper than 32 levels"),
        ("a." * 100_000 + "b = 1\n", "dotted key of more than 32 parts"),
        ("[" + "a." * 40 + "b]\n", "dotted key of more than 32 parts"),
        ('"q".' * 40 + "b = 1\n", "dotted key of more than 32 parts"),
        ("a." * 20 + "b = { " + "c." * 20 + "d = 1 }\n", "nested deeper than 32 levels"),
        ("x = " + "1" * 5000 + "\n", "integer outside the 64-bit range"),
        ("x = 18446744073709551616\n", "integer outside the 64-bit range"),
        ("x = 1\nx = 2\n", "is not valid TOML"),
        ("x = ", "is not valid TOML"),
    ],
)
def test_toml_limits(text: str, message: str) -> None:
    with pytest.raises(MalformedInputError, match=message):
        parse_toml(text.encode(), "doc")


def test_toml_within_limits_parses() -> None:
    text = (
        "[snp]\n"
        'measurements = ["' + "ab" * 48 + '"]  # [[[[ in a comment\n'
        'note = "[[[[ a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h"\n'
        "literal = '''\n[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n'''\n"
        "when = 1979-05-27T07:32:00.999999Z\n"
        "pi = 3.14\n"
        "[evidence.pcrs.sha256]\n"
        '7 = "00"\n'
    )
    document = parse_toml(text, "doc")
    assert document["snp"]["pi"] == 3.14
    assert document["evidence"]["pcrs"]["sha256"]["7"] == "00"


def test_the_error_type_is_the_callers() -> None:
    with pytest.raises(PolicyFileError, match=r"policy file p\.toml is nested deeper"):
        parse_toml(_nested_toml(1000), "policy file p.toml", error=PolicyFileError)


def test_check_limits_walks_without_recursion() -> None:
    deep: list[object] = []
    cursor = deep
    for _ in range(100_000):  # deeper than the interpreter's recursion limit
        child: list[object] = []
        cursor.append(child)
        cursor = child
    with pytest.raises(MalformedInputError, match="nested deeper"):
        check_limits(deep, "doc")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="[]{}", max_size=200))
def test_bracket_depth_prescan_matches_a_counter(text: str) -> None:
    depth = best = 0
    for char in text:
        depth += 1 if char in "[{" else -1
        best = max(best, depth)
    assert max_bracket_depth(text.encode()) == best


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)
        | st.text(max_size=20),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=8), children, max_size=4)
        ),
        max_leaves=30,
    )
)
def test_parse_json_agrees_with_json_within_limits(value: object) -> None:
    text = json.dumps(value)
    try:
        parsed = parse_json(text, "doc")
    except MalformedInputError as error:
        assert "nested deeper" in error.message
        return
    assert parsed == json.loads(text)


@pytest.mark.parametrize(
    "read",
    [
        lambda raw: parse_json(raw, "doc"),
        parse_bundle,
        lambda raw: load_json_object(raw, "TCB info"),
        lambda raw: load_json(raw, "input"),
        Proof.from_json,
    ],
    ids=["documents", "collateral-bundle", "tdx-collateral", "input-envelope", "smt-proof"],
)
def test_every_json_reader_refuses_a_duplicate_member(read: Callable[[bytes], object]) -> None:
    """One hook (``documents.unique_members``) for every JSON reader: a member given twice is
    malformed input (exit 10) in the same words, never "the last one wins"."""
    with pytest.raises((MalformedInputError, ParseError)) as info:
        read(b'{"kind": 1, "kind": 2}')
    assert "duplicate member 'kind'" in str(info.value)
    assert info.value.exit_code == 10
