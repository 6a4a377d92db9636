"""Progress lines for the long zk steps (compiling, CRS generation, proving, verifying).

Shown on stderr only when stderr is a terminal, so pipes, tests and CI stay quiet and stdout
keeps carrying only the result.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Progress:
    """Writes ``cairn zk [  12.3 s] message`` lines to ``stream``; silent when it is None."""

    stream: TextIO | None
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def for_stderr(cls) -> Progress:
        """Report on stderr if it is a terminal, else stay silent."""
        stream = sys.stderr
        return cls(stream if stream.isatty() else None)

    @classmethod
    def silent(cls) -> Progress:
        return cls(None)

    @property
    def enabled(self) -> bool:
        return self.stream is not None

    def step(self, message: str) -> None:
        if self.stream is None:
            return
        elapsed = time.monotonic() - self.started
        print(f"cairn zk [{elapsed:6.1f} s] {message}", file=self.stream, flush=True)
