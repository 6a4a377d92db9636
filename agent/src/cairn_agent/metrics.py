"""Prometheus text-format metrics (no dependency: a handful of counters and one histogram)."""

from __future__ import annotations

import bisect
import threading
from collections import Counter

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """Counters per endpoint/status and an evidence latency histogram."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._responses: Counter[tuple[str, int]] = Counter()
        self._buckets = [0] * (len(BUCKETS) + 1)
        self._sum = 0.0
        self._count = 0

    def count(self, endpoint: str, status: int) -> None:
        with self._lock:
            self._responses[(endpoint, status)] += 1

    def observe_evidence(self, seconds: float) -> None:
        with self._lock:
            self._buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sum += seconds
            self._count += 1

    def render(self, *, queue_depth: int) -> str:
        with self._lock:
            lines = [
                "# HELP cairn_agent_responses_total HTTP responses by endpoint and status.",
                "# TYPE cairn_agent_responses_total counter",
            ]
            for (endpoint, status), n in sorted(self._responses.items()):
                lines.append(
                    f'cairn_agent_responses_total{{endpoint="{endpoint}",status="{status}"}} {n}'
                )
            lines += [
                "# HELP cairn_agent_evidence_seconds Time to produce one evidence bundle.",
                "# TYPE cairn_agent_evidence_seconds histogram",
            ]
            cumulative = 0
            for bound, n in zip((*BUCKETS, float("inf")), self._buckets, strict=True):
                cumulative += n
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(f'cairn_agent_evidence_seconds_bucket{{le="{le}"}} {cumulative}')
            lines += [
                f"cairn_agent_evidence_seconds_sum {self._sum:.6f}",
                f"cairn_agent_evidence_seconds_count {self._count}",
                "# HELP cairn_agent_queue_depth Evidence requests waiting for the hardware.",
                "# TYPE cairn_agent_queue_depth gauge",
                f"cairn_agent_queue_depth {queue_depth}",
            ]
        return "\n".join(lines) + "\n"
