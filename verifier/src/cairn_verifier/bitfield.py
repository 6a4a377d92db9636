"""Integer bit fields as tables of named bits: each bit is named once, with its meaning, and the
same table decodes a raw value and builds one.

::

    class GuestPolicy(BitField):
        debug = Flag(19, "the hypervisor may debug the guest (read and write its memory)")

    GuestPolicy(0x80000).debug               # True: decoded through the table
    GuestPolicy.build(debug=True).raw        # 0x80000: built through the same table
    GuestPolicy(raw).flags()                 # {"debug": ...}: every listed flag, in bit order
    GuestPolicy(raw).reserved_bits           # the set bits no row of the table names

Bits the table does not name are never rejected here: callers decide (AMD gives reserved bits a
meaning in newer firmware).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self, overload


class _Bits:
    """A named run of bits of a :class:`BitField` (a class attribute; the name is the attribute)."""

    __slots__ = ("default", "low", "meaning", "name", "width")

    def __init__(self, low: int, width: int, meaning: str, default: int) -> None:
        self.low = low
        self.width = width
        self.meaning = meaning
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.low

    def read(self, raw: int) -> int:
        return (raw >> self.low) & ((1 << self.width) - 1)

    def write(self, raw: int, value: int) -> int:
        if not 0 <= value < 1 << self.width:
            raise ValueError(f"{self.name} is {self.width} bits wide; {value} does not fit")
        return (raw & ~self.mask) | (value << self.low)


class Flag(_Bits):
    """One bit: reads as a bool. ``listed=False`` keeps it out of :meth:`BitField.flags` (bits
    with a fixed value such as reserved-must-be-one); ``default`` is its value in ``build``."""

    __slots__ = ("listed",)

    def __init__(self, bit: int, meaning: str, *, listed: bool = True, default: bool = False):
        super().__init__(bit, 1, meaning, int(default))
        self.listed = listed

    @property
    def bit(self) -> int:
        return self.low

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Flag: ...
    @overload
    def __get__(self, obj: BitField, owner: type | None = None) -> bool: ...
    def __get__(self, obj: BitField | None, owner: type | None = None) -> Flag | bool:
        return self if obj is None else bool(self.read(obj.raw))


class Bits(_Bits):
    """A run of ``width`` bits from bit ``low``: reads as an int."""

    __slots__ = ()

    def __init__(self, low: int, width: int, meaning: str, *, default: int = 0) -> None:
        super().__init__(low, width, meaning, default)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Bits: ...
    @overload
    def __get__(self, obj: BitField, owner: type | None = None) -> int: ...
    def __get__(self, obj: BitField | None, owner: type | None = None) -> Bits | int:
        return self if obj is None else self.read(obj.raw)


@dataclass(frozen=True, slots=True)
class BitField:
    """An integer read through the :class:`Flag` and :class:`Bits` rows its subclass declares."""

    raw: int

    table: ClassVar[tuple[_Bits, ...]] = ()
    """Every named run of bits, lowest bit first (collected from the subclass body)."""

    def __init_subclass__(cls) -> None:
        rows = [value for value in vars(cls).values() if isinstance(value, _Bits)]
        cls.table = tuple(sorted((*cls.table, *rows), key=lambda row: row.low))
        taken = 0
        for row in cls.table:
            if taken & row.mask:
                raise TypeError(f"{cls.__name__}.{row.name} overlaps another row of the table")
            taken |= row.mask

    @classmethod
    def known_mask(cls) -> int:
        """The bits the table names."""
        mask = 0
        for row in cls.table:
            mask |= row.mask
        return mask

    @property
    def reserved_bits(self) -> int:
        """The set bits that no row of the table names."""
        return self.raw & ~self.known_mask()

    def flags(self) -> dict[str, bool]:
        """Every listed one-bit flag by name, lowest bit first."""
        return {
            row.name: bool(row.read(self.raw))
            for row in self.table
            if isinstance(row, Flag) and row.listed
        }

    @classmethod
    def build(cls, **values: int) -> Self:
        """A value from named rows (bools for flags); rows not given take their default."""
        rows = {row.name: row for row in cls.table}
        unknown = sorted(set(values) - set(rows))
        if unknown:
            raise TypeError(f"{cls.__name__} has no bits named {', '.join(unknown)}")
        raw = 0
        for name, row in rows.items():
            raw = row.write(raw, int(values.get(name, row.default)))
        return cls(raw)
