"""Abuse limits of ``cairn serve``: a per-client token bucket on challenge and attest, the client
address behind trusted proxies, and the count of resource requests without a valid token (audited
as one summary entry per interval instead of one entry each, so that they cannot grow the audit
log without bound).

All three live in one replica's memory: N replicas admit up to N times a client's rate, and a
summary not yet written when a replica dies is lost (the requests it counts released nothing).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_CLIENTS = 100_000
"""Buckets kept; beyond this the least recently seen client's is forgotten (it starts full)."""
MAX_FORWARDED_HOPS = 32


class RateLimiter:
    """A token bucket per client: ``burst`` requests at once, refilled at ``per_minute``."""

    def __init__(
        self,
        per_minute: int,
        burst: int,
        *,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def admit(self, client: str) -> int | None:
        """None when ``client`` may proceed (one token taken); else the whole seconds until it
        may (its ``Retry-After``)."""
        if not self.enabled:
            return None
        now = self.clock()
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            wait = None
        else:
            self._buckets[client] = (tokens, now)
            wait = max(1, math.ceil((1.0 - tokens) / self.rate))
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def parse_networks(networks: Iterable[str]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(n, strict=True) for n in networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(
    peer: str | None, forwarded_for: Iterable[str], proxies: tuple[IpNetwork, ...]
) -> str:
    """Who a request is from: the TCP peer, unless the peer is a trusted proxy; then the nearest
    ``X-Forwarded-For`` hop (right to left) that is not a trusted proxy. A hop that is not an IP
    address stops the walk at the last trusted one (a proxy appends what it saw; anything left of
    a malformed hop is the client's own claim)."""
    current = _address(peer or "")
    if current is None:
        return peer or "unknown"
    hops = [hop for header in forwarded_for for hop in header.split(",")][-MAX_FORWARDED_HOPS:]
    while any(current in network for network in proxies) and hops:
        previous = _address(hops.pop())
        if previous is None:
            break
        current = previous
    return str(current)


@dataclass
class UnauthenticatedRequests:
    """Resource requests refused before a valid token was seen, counted by problem kind."""

    by_reason: Counter[str] = field(default_factory=Counter)
    first_ms: int | None = None
    last_ms: int | None = None

    def count(self, reason: str, at_ms: int) -> None:
        self.by_reason[reason] += 1
        self.first_ms = at_ms if self.first_ms is None else self.first_ms
        self.last_ms = at_ms

    def take(self) -> dict[str, Any] | None:
        """The summary entry's detail (and start counting afresh), or None when nothing came."""
        if not self.by_reason:
            return None
        summary = {
            "from": self.first_ms,
            "to": self.last_ms,
            "requests": sum(self.by_reason.values()),
            "by_reason": dict(sorted(self.by_reason.items())),
        }
        self.by_reason, self.first_ms, self.last_ms = Counter(), None, None
        return summary

    def put_back(self, summary: dict[str, Any]) -> None:
        """Undo :meth:`take` when the summary could not be recorded."""
        self.by_reason.update(summary["by_reason"])
        first, last = summary["from"], summary["to"]
        self.first_ms = first if self.first_ms is None else min(first, self.first_ms)
        self.last_ms = last if self.last_ms is None else max(last, self.last_ms)
