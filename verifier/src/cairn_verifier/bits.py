"""Flags fields as tables of named bits (SEV-SNP guest policy, platform and signer info, TD
attributes, XFAM, TPMA_OBJECT): each bit is written once, with its meaning, and the same table
decodes a value and builds one.

::

    class GuestPolicy(IntBitField):
        abi_minor = Bits(0, 8, "minimum firmware ABI minor version")     # a multi-bit run: int
        debug = Flag(19, "the host may read and write guest memory")      # one bit: bool

    class TdAttributes(...):
        sept_ve_disable = Flag(28, "…", name="SEPT_VE_DISABLE")           # the spec's spelling

    GuestPolicy(0x80000).debug            # True: decoded through the table
    GuestPolicy.build(debug=True).raw     # 0x80000: built through the same table (attribute names)
    policy.flags()                        # {"smt": False, "debug": True, …}: the listed flags
    policy.names()                        # ["debug"]: the set flags, unnamed bits RESERVED_BIT_<n>
    policy.reserved_bits                  # the set bits no row names

A row is read as the class attribute it is assigned to; its ``name`` (shown in output, used by
:meth:`BitField.has`, :meth:`BitField.flags` and :meth:`BitField.names`) is that attribute unless
``name=`` gives the spelling of the specification or tool users know (``SEPT_VE_DISABLE``,
``SSE``). Bits no row names are never rejected here: they are listed as ``RESERVED_BIT_<n>`` and
counted by :attr:`BitField.reserved_bits`, so the caller decides (AMD has given reserved bits a
meaning in newer firmware; TPMA_OBJECT refuses them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self, overload


class _Row:
    """A named run of bits of a :class:`BitField` (a class attribute of it)."""

    def __init__(self, low: int, width: int, meaning: str, default: int, name: str | None):
        if low < 0 or width < 1:
            raise TypeError(f"a row starts at bit 0 or above and is one bit wide or more ({low})")
        self.low = low
        self.width = width
        self.meaning = meaning
        self.default = default
        self.attr = ""
        self.name = name or ""

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr
        self.name = self.name or attr
        bits = f"bit {self.low}" if self.width == 1 else f"bits {self.low}-{self.high}"
        self.__doc__ = f"{self.name} ({bits}){': ' + self.meaning if self.meaning else ''}"

    @property
    def high(self) -> int:
        return self.low + self.width - 1

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.low

    def read(self, value: int) -> int:
        return (value >> self.low) & ((1 << self.width) - 1)

    def write(self, value: int, row_value: int) -> int:
        if not 0 <= row_value < 1 << self.width:
            raise ValueError(f"{self.attr} is {self.width} bits wide; {row_value} does not fit")
        return (value & ~self.mask) | (row_value << self.low)


class Flag(_Row):
    """One bit: reads as a bool. ``listed=False`` keeps it out of :meth:`BitField.flags` (bits
    with a fixed value such as reserved-must-be-one); ``default`` is its value in ``build``."""

    def __init__(
        self,
        bit: int,
        meaning: str = "",
        *,
        name: str | None = None,
        listed: bool = True,
        default: bool = False,
    ):
        super().__init__(bit, 1, meaning, int(default), name)
        self.listed = listed

    @property
    def bit(self) -> int:
        return self.low

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Flag: ...
    @overload
    def __get__(self, obj: BitField, owner: type | None = None) -> bool: ...
    def __get__(self, obj: BitField | None, owner: type | None = None) -> Flag | bool:
        return self if obj is None else bool(self.read(obj.value))


class Bits(_Row):
    """A run of ``width`` bits from bit ``low``: reads as an int."""

    def __init__(
        self, low: int, width: int, meaning: str, *, name: str | None = None, default: int = 0
    ):
        super().__init__(low, width, meaning, default, name)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Bits: ...
    @overload
    def __get__(self, obj: BitField, owner: type | None = None) -> int: ...
    def __get__(self, obj: BitField | None, owner: type | None = None) -> Bits | int:
        return self if obj is None else self.read(obj.value)


class BitField:
    """A ``width``-bit integer read through the :class:`Flag` and :class:`Bits` rows its
    subclass declares. A subclass says how it holds the integer (:attr:`value`,
    :meth:`from_value`): :class:`IntBitField` holds an int; a binary model may hold its bytes."""

    __slots__ = ()

    width: ClassVar[int] = 64
    """How many bits the field has (bit 0 the least significant)."""

    table: ClassVar[tuple[_Row, ...]] = ()
    """Every row, lowest bit first (collected from the class bodies)."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        rows: dict[str, _Row] = {}
        for klass in reversed(cls.__mro__):
            rows.update({a: v for a, v in vars(klass).items() if isinstance(v, _Row)})
        cls.table = tuple(sorted(rows.values(), key=lambda row: row.low))
        taken = 0
        names: set[str] = set()
        for row in cls.table:
            if row.attr in _API:
                raise TypeError(f"{cls.__name__}.{row.attr} hides the BitField attribute")
            if row.high >= cls.width:
                raise TypeError(f"{cls.__name__}.{row.attr} is outside the {cls.width}-bit field")
            if taken & row.mask:
                raise TypeError(f"{cls.__name__}.{row.attr} overlaps another row of the table")
            if row.name in names:
                raise TypeError(f"{cls.__name__} names two rows {row.name}")
            taken |= row.mask
            names.add(row.name)

    @property
    def value(self) -> int:
        """The field as an integer."""
        raise NotImplementedError

    @classmethod
    def from_value(cls, value: int) -> Self:
        """The model holding ``value``."""
        raise NotImplementedError

    @classmethod
    def build(cls, **values: int) -> Self:
        """A value from rows by attribute name (bools for flags); rows not given take their
        default. ``TypeError`` for a name no row has, ``ValueError`` for a value too wide."""
        rows = {row.attr: row for row in cls.table}
        unknown = sorted(set(values) - set(rows))
        if unknown:
            raise TypeError(f"{cls.__name__} has no bits named {', '.join(unknown)}")
        value = 0
        for attr, row in rows.items():
            value = row.write(value, int(values.get(attr, row.default)))
        return cls.from_value(value)

    @classmethod
    def row(cls, name: str) -> _Row:
        """The row called ``name`` (``KeyError`` for a name no row has)."""
        for row in cls.table:
            if row.name == name:
                return row
        raise KeyError(name)

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
        return self.value & ~self.known_mask()

    def has(self, name: str) -> bool:
        """Whether the flag ``name`` is set (``KeyError`` for a name no flag has)."""
        row = self.row(name)
        if not isinstance(row, Flag):
            raise KeyError(f"{name} is {row.width} bits wide, not a flag")
        return bool(row.read(self.value))

    def flags(self) -> dict[str, bool]:
        """Every listed flag by name and whether it is set, lowest bit first."""
        return {
            row.name: bool(row.read(self.value))
            for row in self.table
            if isinstance(row, Flag) and row.listed
        }

    def names(self) -> list[str]:
        """The set flags by name, lowest bit first, with set bits no row names as
        ``RESERVED_BIT_<n>`` (multi-bit rows are values, not names: they are left out)."""
        flags = {row.low: row.name for row in self.table if isinstance(row, Flag)}
        known = self.known_mask()
        value = self.value
        return [
            flags.get(bit, f"RESERVED_BIT_{bit}")
            for bit in range(self.width)
            if value >> bit & 1 and (bit in flags or not known >> bit & 1)
        ]


_API = frozenset(dir(BitField)) | {"raw"}


@dataclass(frozen=True, slots=True)
class IntBitField(BitField):
    """A bit field held as its integer, ``raw``."""

    raw: int

    @property
    def value(self) -> int:
        return self.raw

    @classmethod
    def from_value(cls, value: int) -> Self:
        return cls(value)
