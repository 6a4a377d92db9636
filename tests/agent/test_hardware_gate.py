"""The hardware gate every evidence request goes through: one call at a time in the hardware
thread, its value or its error handed back to the request, 429 beyond the queue limit, 503 when
the hardware does not answer in time (the call still runs to its end, and the next one waits
for it)."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time

import pytest

from cairn_agent.app import HardwareGate, ProblemError
from cairn_agent.errors import HardwareError


def test_calls_run_one_at_a_time_in_the_hardware_thread_and_return_their_values() -> None:
    spans: list[tuple[float, float, str]] = []

    def call(value: int) -> int:
        start = time.monotonic()
        time.sleep(0.02)
        spans.append((start, time.monotonic(), threading.current_thread().name))
        return value * 2

    async def main() -> list[int]:
        gate = HardwareGate(max_queue=8, timeout=10)
        try:
            return list(await asyncio.gather(*(gate.run(lambda v=v: call(v)) for v in range(4))))
        finally:
            gate.close()

    assert asyncio.run(main()) == [0, 2, 4, 6]
    assert all(name.startswith("cairn-hw") for _, _, name in spans)
    ordered = sorted(spans)
    assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(ordered))


def test_a_hardware_error_reaches_the_request_as_raised() -> None:
    raised = HardwareError("the TPM said no")

    def call() -> None:
        raise raised

    async def main() -> None:
        gate = HardwareGate(max_queue=8, timeout=10)
        try:
            await gate.run(call)
        finally:
            gate.close()

    with pytest.raises(HardwareError) as caught:
        asyncio.run(main())
    assert caught.value is raised


def test_a_call_past_the_timeout_is_503_and_the_next_waits_for_it() -> None:
    finished = threading.Event()
    order: list[str] = []

    def slow() -> str:
        time.sleep(0.3)
        order.append("slow")
        finished.set()
        return "late"

    def quick() -> str:
        order.append("quick")
        return "next"

    async def main() -> str:
        gate = HardwareGate(max_queue=8, timeout=0.05)
        try:
            with pytest.raises(ProblemError) as timed_out:
                await gate.run(slow)
            problem = timed_out.value
            assert (problem.status, problem.kind) == (503, "hardware-timeout")
            assert problem.headers == {"Retry-After": "5"}
            assert not finished.is_set()  # the hardware call goes on
            gate.timeout = 10
            return str(await gate.run(quick))
        finally:
            gate.close()

    assert asyncio.run(main()) == "next"
    assert order == ["slow", "quick"]  # one hardware call at a time, even after a timeout


def test_beyond_the_queue_limit_requests_get_429() -> None:
    release = threading.Event()

    async def main() -> list[object]:
        gate = HardwareGate(max_queue=2, timeout=10)
        try:
            first = asyncio.ensure_future(gate.run(release.wait))
            second = asyncio.ensure_future(gate.run(release.wait))
            await asyncio.sleep(0.05)
            with pytest.raises(ProblemError) as busy:
                await gate.run(release.wait)
            assert (busy.value.status, busy.value.kind) == (429, "busy")
            assert busy.value.headers == {"Retry-After": "1"}
            release.set()
            return list(await asyncio.gather(first, second))
        finally:
            gate.close()

    assert asyncio.run(main()) == [True, True]
