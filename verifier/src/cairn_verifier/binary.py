"""A bounded cursor over a binary structure, the byte order a parameter.

TPM 2.0 structures are big-endian, Intel DCAP quotes little-endian; both are read the same way:
every read names its field, never runs past the end of the structure it is in, and fails with a
:class:`~cairn_verifier.errors.ParseError` that says which field, at which offset, was missing
or left over. Length fields drive the reads, never the size of the input.
"""

from __future__ import annotations

from typing import Literal

from .errors import ParseError

ByteOrder = Literal["big", "little"]

#: Why bytes are left over in a structure read through its own size field (:meth:`Reader.sub`).
SIZE_FIELD_TOO_LARGE = "its size field is larger than its content"
#: Why bytes are left over after a whole structure.
TRAILING_DATA = "trailing data after the structure"


class Reader:
    """Cursor over ``data[offset:end]`` of the structure ``where``; reads advance ``offset``.

    ``component`` goes into every error; ``truncated_hint`` is the hint of a read past ``end``;
    ``leftover`` says why :meth:`finish` finds unread bytes and ``leftover_field`` names them
    (``trailing`` after a whole structure, the structure itself for :meth:`sub`). Offsets are
    into ``data``.
    """

    def __init__(
        self,
        data: bytes,
        where: str,
        *,
        order: ByteOrder,
        component: str,
        offset: int = 0,
        end: int | None = None,
        truncated_hint: str | None = None,
        leftover: str = TRAILING_DATA,
        leftover_field: str = "trailing",
    ):
        self.data = bytes(data)
        self.where = where
        self.order: ByteOrder = order
        self.component = component
        self.offset = offset
        self.end = len(self.data) if end is None else end
        self.truncated_hint = truncated_hint
        self.leftover = leftover
        self.leftover_field = leftover_field

    @property
    def remaining(self) -> int:
        return self.end - self.offset

    def error(
        self, message: str, field: str, offset: int | None = None, hint: str | None = None
    ) -> ParseError:
        """A ``ParseError`` about ``field`` of this structure (at the cursor unless ``offset``)."""
        return ParseError(
            f"{self.where}: {message}",
            component=self.component,
            field=field,
            offset=self.offset if offset is None else offset,
            hint=hint,
        )

    def take(self, size: int, field: str) -> bytes:
        """The next ``size`` bytes, named ``field``."""
        if size > self.remaining:
            raise ParseError(
                f"truncated {self.where}: {field} needs {size} bytes at offset {self.offset},"
                f" only {self.remaining} left",
                component=self.component,
                field=field,
                offset=self.offset,
                hint=self.truncated_hint,
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def uint(self, size: int, field: str) -> int:
        """An unsigned integer of ``size`` bytes in the reader's byte order."""
        return int.from_bytes(self.take(size, field), self.order)

    def u8(self, field: str) -> int:
        return self.uint(1, field)

    def u16(self, field: str) -> int:
        return self.uint(2, field)

    def u32(self, field: str) -> int:
        return self.uint(4, field)

    def u64(self, field: str) -> int:
        return self.uint(8, field)

    def sub(self, size: int, field: str, where: str) -> Reader:
        """A reader over the next ``size`` bytes (a length-prefixed structure); skips past it."""
        start = self.offset
        self.take(size, field)
        return Reader(
            self.data,
            where,
            order=self.order,
            component=self.component,
            offset=start,
            end=start + size,
            truncated_hint=self.truncated_hint,
            leftover=SIZE_FIELD_TOO_LARGE,
            leftover_field=where,
        )

    def finish(self) -> None:
        """Fail unless every byte of the structure has been read."""
        if self.remaining:
            raise ParseError(
                f"{self.where} has {self.remaining} unparsed bytes at offset {self.offset}"
                f" ({self.leftover})",
                component=self.component,
                field=self.leftover_field,
                offset=self.offset,
            )
