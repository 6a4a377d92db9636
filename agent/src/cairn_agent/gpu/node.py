"""A node's devices from two providers: its GPUs (NVML), then its NVSwitches (NSCQ).

The bundle lists the GPUs in NVML's order, then the switches in NSCQ's; both are asked, under
the agent's hardware lock, for the same SPDM nonce, and the digest in REPORT_DATA covers them
all (docs/spec/gpu-evidence-v1.md).
"""

from __future__ import annotations

from typing import Any

from .base import GpuDevice, GpuEvidenceProvider


class NodeGpuProvider:
    """``gpus`` then ``switches``; simulated when either is. The GPUs' CC ready state is set
    through the GPU provider (after a self-check that verified the switches too)."""

    def __init__(self, gpus: GpuEvidenceProvider, switches: GpuEvidenceProvider):
        self.gpus = gpus
        self.switches = switches
        self.name = f"{gpus.name}+{switches.name}"
        self.simulated = gpus.simulated or switches.simulated

    def get_gpu_evidence(self, nonce: bytes) -> tuple[GpuDevice, ...]:
        return self.gpus.get_gpu_evidence(nonce) + self.switches.get_gpu_evidence(nonce)

    def ready_state(self) -> bool:
        state: Any = self.gpus.ready_state()  # type: ignore[attr-defined]
        return bool(state)

    def set_ready(self) -> None:
        self.gpus.set_ready()  # type: ignore[attr-defined]

    def describe(self) -> str:
        return f"{self.gpus.describe()}; {self.switches.describe()}"
