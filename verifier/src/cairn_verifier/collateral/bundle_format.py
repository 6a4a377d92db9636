"""What a Cairn collateral bundle calls itself, and a cheap test for one (no pydantic).

The bundle's models and parser are in :mod:`.bundle`; this is what code that only needs to tell
a bundle from other collateral reads, so that it need not load them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

BUNDLE_FORMAT: Final = "cairn-collateral-bundle"
BUNDLE_VERSION: Final = 1


def is_bundle_file(path: Path) -> bool:
    """True when ``path`` is a file that declares itself a Cairn collateral bundle."""
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return BUNDLE_FORMAT.encode() in head and head.lstrip().startswith(b"{")
