"""A bounded record of checks that already succeeded, keyed by the exact bytes involved.

Signatures over immutable bytes verify the same way every time, so a warm verifier remembers
successful verifications (never failures) and skips repeating them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable


class SuccessMemo:
    """Least-recently-used set of keys whose check succeeded."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._keys: OrderedDict[Hashable, None] = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        return False

    def add(self, key: Hashable) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        if len(self._keys) > self.maxsize:
            self._keys.popitem(last=False)
