"""Named bits of a flags field (TD attributes, XFAM, TPMA_OBJECT, …), each defined once.

A :class:`BitTable` is the one place a field's bit numbers are written: the model's attributes
(:meth:`BitTable.flag`), its rendering and its checks all look bits up by name. Bits the table
does not name are never rejected here; they are listed as ``RESERVED_BIT_<n>`` and counted by
:meth:`BitTable.reserved`, so a policy can decide about them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, overload


@dataclass(frozen=True, slots=True)
class Bit:
    """One named bit: its number (0 = least significant), name and what it means."""

    number: int
    name: str
    meaning: str = ""

    @property
    def mask(self) -> int:
        return 1 << self.number


class Flags(Protocol):
    """A model of a flags field: its integer value."""

    @property
    def value(self) -> int: ...


class Flag:
    """A read-only ``bool`` attribute of a :class:`Flags` model: one named bit of its value."""

    def __init__(self, bit: Bit):
        self.bit = bit
        self.__doc__ = f"{bit.name} (bit {bit.number}){': ' + bit.meaning if bit.meaning else ''}"

    @overload
    def __get__(self, model: None, owner: type | None = None) -> Flag: ...

    @overload
    def __get__(self, model: Flags, owner: type | None = None) -> bool: ...

    def __get__(self, model: Flags | None, owner: type | None = None) -> Flag | bool:
        if model is None:
            return self
        return bool(model.value & self.bit.mask)


class BitTable:
    """The named bits of a ``width``-bit field; ``defined`` masks other bits the specification
    gives a meaning (multi-bit fields, must-be-one bits), so they do not count as reserved."""

    def __init__(self, width: int, *bits: Bit, defined: int = 0):
        by_name = {bit.name: bit for bit in bits}
        by_number = {bit.number: bit for bit in bits}
        if len(by_name) != len(bits) or len(by_number) != len(bits):
            raise ValueError("a bit table names each bit once, with one name")
        if any(not 0 <= bit.number < width for bit in bits):
            raise ValueError(f"a bit number is outside the {width}-bit field")
        self.width = width
        self.bits: tuple[Bit, ...] = tuple(sorted(bits, key=lambda bit: bit.number))
        self._by_name = by_name
        self._by_number = by_number
        self.known_mask = sum(bit.mask for bit in bits) | defined

    def __getitem__(self, name: str) -> Bit:
        return self._by_name[name]

    def flag(self, name: str) -> Flag:
        """A model attribute reading the bit ``name`` (``KeyError`` for an unknown name)."""
        return Flag(self._by_name[name])

    def is_set(self, value: int, name: str) -> bool:
        """Whether the bit ``name`` is set in ``value`` (``KeyError`` for an unknown name)."""
        return bool(value & self._by_name[name].mask)

    def names(self, value: int) -> list[str]:
        """The set bits of ``value``, lowest first; unnamed ones as ``RESERVED_BIT_<n>``."""
        return [self._name_of(number) for number in range(self.width) if value >> number & 1]

    def flags(self, value: int) -> dict[str, bool]:
        """Every named bit and whether ``value`` sets it, lowest first."""
        return {bit.name: bool(value & bit.mask) for bit in self.bits}

    def reserved(self, value: int) -> int:
        """The bits of ``value`` the specification does not define."""
        return value & ~self.known_mask

    def _name_of(self, number: int) -> str:
        bit = self._by_number.get(number)
        return bit.name if bit is not None else f"RESERVED_BIT_{number}"
