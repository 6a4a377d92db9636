"""The golden comparison: a device's measurements against the active measurements of its RIMs.

The rule (NVIDIA's, docs/gpu.md "Measurements"):

* the reference is the union of the *active* measurements of the device's RIMs (driver and
  VBIOS for a GPU, the BIOS for an NVSwitch); an index active in two RIMs is a conflict, and
  fails, since neither RIM may overrule the other;
* RIM index i is compared with the report's measurement block i + 1;
* the block must exist, have the RIM's ``size`` and equal one of its ``alternatives``;
* index 35 is not compared when the GPU reports NVDEC0 disabled (the engine it measures is off);
* blocks no RIM marks active are not compared (and counted).

Every mismatch is named: index, RIM, expected alternatives and what the device reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from .report import Nvdec0
from .rim import RimContent
from .spdm import MeasurementBlock

NVDEC0_INDEX: Final = 35


@dataclass(frozen=True)
class Mismatch:
    index: int
    rim: str
    expected: tuple[str, ...]
    expected_size: int
    actual: str | None
    """The reported value (hex), None when the report has no such block."""

    def describe(self) -> str:
        if self.actual is None:
            found = f"the report has no block {self.index + 1}"
        elif len(self.actual) // 2 != self.expected_size:
            found = f"the report's value is {len(self.actual) // 2} bytes, not {self.expected_size}"
        else:
            found = f"reported {self.actual[:16]}…"
        alternatives = " or ".join(e[:16] + "…" for e in self.expected)
        return f"index {self.index} ({self.rim}): {found}, expected {alternatives}"


@dataclass(frozen=True)
class GoldenComparison:
    compared: tuple[int, ...]
    skipped: tuple[int, ...]
    mismatches: tuple[Mismatch, ...]
    conflicts: tuple[int, ...]
    uncovered: int
    """Measurement blocks no RIM marks active (not compared)."""

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.conflicts

    @property
    def matched(self) -> int:
        return len(self.compared) - len({m.index for m in self.mismatches})


def compare(
    blocks: Sequence[MeasurementBlock],
    rims: Sequence[tuple[str, RimContent]],
    nvdec0: Nvdec0 | None,
) -> GoldenComparison:
    """Compare the report's ``blocks`` with the active measurements of the labelled ``rims``."""
    by_block = {block.index: block for block in blocks}
    owners: dict[int, list[str]] = {}
    reference = {}
    for label, rim in rims:
        for index, measurement in rim.active.items():
            owners.setdefault(index, []).append(label)
            reference[index] = (label, measurement)
    conflicts = tuple(sorted(i for i, labels in owners.items() if len(labels) > 1))
    compared: list[int] = []
    skipped: list[int] = []
    mismatches: list[Mismatch] = []
    for index in sorted(reference):
        if index in conflicts:
            continue
        if index == NVDEC0_INDEX and nvdec0 is Nvdec0.DISABLED:
            skipped.append(index)
            continue
        compared.append(index)
        label, measurement = reference[index]
        block = by_block.get(index + 1)
        expected = tuple(h.hex() for h in measurement.alternatives)
        if block is None:
            mismatches.append(Mismatch(index, label, expected, measurement.size, None))
            continue
        if len(block.value) != measurement.size or block.value not in measurement.alternatives:
            mismatches.append(Mismatch(index, label, expected, measurement.size, block.value.hex()))
    uncovered = sum(1 for number in by_block if number - 1 not in reference)
    return GoldenComparison(
        tuple(compared), tuple(skipped), tuple(mismatches), conflicts, uncovered
    )
