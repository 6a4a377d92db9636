"""The exception tree drawn in ``cairn_verifier.errors``' docstring is the real one: every
CairnError subclass of the package, under its real parent, with its real exit code and module."""

from __future__ import annotations

import importlib
import pkgutil
import re

import cairn_verifier
from cairn_verifier import errors
from cairn_verifier.errors import CairnError

_ROW = re.compile(
    r"^    (?P<indent>[│├└─ ]*)(?P<name>\w+Error)\s+(?P<code>\d+)(?:\s+\[(?P<module>[\w.]+)\])?$"
)

Row = tuple[int, str, int, str]


def _drawn() -> list[Row]:
    """(depth, name, exit code, module) of each row of the drawing, top to bottom."""
    doc = errors.__doc__ or ""
    tree = doc[doc.index("    CairnError") :]
    rows = []
    for line in tree.splitlines():
        if not line.strip():
            continue
        match = _ROW.match(line)
        assert match, f"not a row of the tree: {line!r}"
        module = match["module"] or "errors"
        rows.append((len(match["indent"]) // 4, match["name"], int(match["code"]), module))
    return rows


def _real(cls: type[CairnError] = CairnError, depth: int = 0) -> list[Row]:
    module = cls.__module__.removeprefix("cairn_verifier.")
    rows = [(depth, cls.__name__, int(cls.exit_code), module)]
    for sub in cls.__subclasses__():
        rows += _real(sub, depth + 1)
    return rows


def test_the_drawn_tree_is_the_real_one() -> None:
    for found in pkgutil.walk_packages(cairn_verifier.__path__, "cairn_verifier."):
        importlib.import_module(found.name)  # every error class gets defined
    drawn, real = _drawn(), _real()
    assert sorted(drawn) == sorted(real), "redraw the tree in cairn_verifier/errors.py"
    # A row's parent is the nearest row above it one level up.
    parents: dict[str, str] = {}
    stack: list[str] = []
    for depth, name, _, _ in drawn:
        del stack[depth:]
        if stack:
            parents[name] = stack[-1]
        stack.append(name)
    real_parents = {
        cls.__name__: cls.__bases__[0].__name__
        for cls in _classes(CairnError)
        if cls is not CairnError
    }
    assert parents == real_parents


def _classes(cls: type[CairnError]) -> list[type[CairnError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _classes(sub))]
