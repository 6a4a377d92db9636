"""Named steps with their durations, printed as they run and summed up at the end."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class StepError(Exception):
    """A step failed; ``details`` (e.g. the guest's serial log) is printed under it."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass
class Steps:
    """Prints ``==> name`` when a step starts and ``<== ok|FAILED (N.N s)`` when it ends."""

    records: list[tuple[str, str, float]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"\n==> {name}", flush=True)
        start = time.monotonic()
        try:
            yield
        except BaseException as exc:
            elapsed = time.monotonic() - start
            self.records.append((name, "FAILED", elapsed))
            reason = exc.message if isinstance(exc, StepError) else f"{type(exc).__name__}: {exc}"
            print(f"<== {name}: FAILED ({elapsed:.1f} s): {reason}", flush=True)
            raise
        elapsed = time.monotonic() - start
        self.records.append((name, "ok", elapsed))
        print(f"<== {name}: ok ({elapsed:.1f} s)", flush=True)

    def note(self, text: str) -> None:
        """A line of output inside the current step."""
        print(f"    {text}", flush=True)

    def summary(self) -> str:
        total = time.monotonic() - self.started
        width = max((len(name) for name, _, _ in self.records), default=10)
        lines = [
            f"{name:<{width}}  {status:<6}  {seconds:7.1f} s"
            for name, status, seconds in self.records
        ]
        lines.append(f"{'total':<{width}}  {'':<6}  {total:7.1f} s")
        return "\n".join(lines)

    def print_summary(self) -> None:
        print("\n===== steps =====", flush=True)
        print(self.summary(), flush=True)


def log(text: str) -> None:
    """A progress line on stderr (outside any step)."""
    print(f"cairn-vm: {text}", file=sys.stderr, flush=True)
