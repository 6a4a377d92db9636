"""Record behaves as the frozen dataclass it replaces: the same equality, hash, repr, immutability
and replace(), and the classes converted from dataclasses keep their fields in declaration order."""

from __future__ import annotations

import dataclasses

import pytest

from cairn_verifier.checks import Check, Outcome
from cairn_verifier.errors import ExitCode
from cairn_verifier.inputs.base import Layer
from cairn_verifier.records import Record
from cairn_verifier.snp.tcb import TcbVersion
from cairn_verifier.tdx.quote import TdAttributes, Xfam

MISMATCH = ExitCode.CONTENT_MISMATCH


class Point(Record):
    x: int
    y: str

    __slots__ = ("x", "y")

    def __init__(self, x: int, y: str = "") -> None:
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)


@dataclasses.dataclass(frozen=True)
class DataPoint:
    x: int
    y: str = ""


class OtherPoint(Point):
    __slots__ = ()


def test_equality_hash_and_repr_are_a_frozen_dataclasss() -> None:
    assert Point(1, "a") == Point(1, "a")
    assert Point(1, "a") != Point(1, "b")
    assert Point(1, "a") != Point(2, "a")
    assert hash(Point(1, "a")) == hash(Point(1, "a")) == hash(DataPoint(1, "a"))
    assert repr(Point(1, "a")) == repr(DataPoint(1, "a")).replace("DataPoint", "Point")
    assert repr(Point(1)) == "Point(x=1, y='')"
    # another class with equal fields is not equal (as a dataclass compares its own class only)
    assert Point(1, "a") != OtherPoint(1, "a")
    assert Point(1, "a") != (1, "a")
    assert OtherPoint._fields == ("x", "y")
    assert len({Point(1, "a"), Point(1, "a"), Point(2, "a")}) == 2


def test_fields_cannot_be_assigned_or_deleted() -> None:
    point = Point(1, "a")
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'x'"):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del point.y
    with pytest.raises(AttributeError):
        point.z = 3  # type: ignore[attr-defined]
    assert point == Point(1, "a")


def test_replace_copies_with_changes_and_refuses_unknown_fields() -> None:
    point = Point(1, "a")
    assert point.replace(y="b") == Point(1, "b")
    assert point == Point(1, "a")
    with pytest.raises(TypeError, match="no field 'z'"):
        point.replace(z=3)


def test_a_slot_without_annotation_is_refused() -> None:
    with pytest.raises(TypeError, match="every slot needs an annotation"):

        class Broken(Record):
            __slots__ = ("x",)


def test_converted_classes_keep_their_field_order_and_post_init() -> None:
    check = Check("report-signature", "report", Outcome.FAIL, "bad", hint="h", category=MISMATCH)
    assert check._fields[:4] == ("name", "component", "outcome", "summary")
    assert repr(check).startswith("Check(name='report-signature', component='report', ")
    assert check.replace(summary="worse").summary == "worse"
    assert check.replace(summary="worse").category is MISMATCH
    assert Layer("hex")._fields == ("name", "detail")
    raw = bytes.fromhex("0300000000000018db")[:8]
    version = TcbVersion.decode(raw, None)
    assert version == TcbVersion.decode(raw, None)
    assert hash(version) == hash(TcbVersion.decode(raw, None))
    assert version != TcbVersion.decode(bytes(8), None)
    # subclasses of a record without fields of their own compare by their base's fields
    assert TdAttributes(bytes(8)) == TdAttributes(bytes(8))
    assert TdAttributes(bytes(8)) != TdAttributes(b"\x01" + bytes(7))
    assert TdAttributes(bytes(8)) != Xfam(bytes(8))
