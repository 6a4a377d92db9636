"""Immutable value classes without :mod:`dataclasses`' code generation at import time.

``@dataclass`` writes the source of each class's ``__init__``, ``__repr__``, ``__eq__``,
``__hash__``, ``__setattr__`` and ``__delattr__`` and compiles it every time its module is
imported (the result is not in the bytecode cache): about 0.3 ms of CPU per frozen class here,
a fifth of an offline ``cairn verify`` (docs/performance.md, "Start-up"). The value classes an
offline verification defines derive from :class:`Record` instead. Each declares its fields
(annotations, in order), their ``__slots__`` and its ``__init__``, compiled once into the
bytecode cache; equality, hashing, ``repr`` and immutability come from here and behave as a
frozen dataclass's: equal when of the same class with equal fields, hashed by the fields,
``Name(field=value, …)``, and assigning or deleting a field raises
:class:`dataclasses.FrozenInstanceError`; ``record.replace(field=…)`` is ``dataclasses.replace``.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, ClassVar, NoReturn, Self


class Record:
    """Base of an immutable value class: its annotated ``__slots__`` are its fields."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()
    _values: ClassVar[Callable[[Record], tuple[object, ...]]]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        slots = set(cls.__dict__.get("__slots__", ())) - {"__dict__", "__weakref__"}
        # The fields in the order they are declared (``__slots__`` is kept sorted), after those
        # of a base record (a subclass without slots of its own has its base's fields).
        annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 (inspect: ~5 ms)
        own = tuple(name for name in annotations if name in slots)
        if len(own) != len(slots):
            raise TypeError(f"{cls.__qualname__}: every slot needs an annotation")
        fields = cls._fields + own
        cls._fields = fields
        if len(fields) > 1:
            cls._values = attrgetter(*fields)
        else:
            cls._values = lambda record: tuple(getattr(record, name) for name in fields)

    def __eq__(self, other: object) -> bool:
        cls = self.__class__
        if other.__class__ is cls:
            return cls._values(self) == cls._values(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.__class__._values(self))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__qualname__}({shown})"

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` to some fields, as :func:`dataclasses.replace` makes one."""
        unknown = sorted(set(changes) - set(self._fields))
        if unknown:
            raise TypeError(f"{type(self).__qualname__} has no field {unknown[0]!r}")
        make: Any = type(self)
        copy: Self = make(**{name: changes.get(name, getattr(self, name)) for name in self._fields})
        return copy

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise _frozen(name)

    def __delattr__(self, name: str) -> NoReturn:
        raise _frozen(name)


def _frozen(name: str) -> AttributeError:
    from dataclasses import FrozenInstanceError

    return FrozenInstanceError(f"cannot assign to field {name!r}")
