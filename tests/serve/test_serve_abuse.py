"""Abuse limits of ``cairn serve``: the per-client rate limit on challenge and attest (429 with
Retry-After, an RFC 9457 problem; per client address, behind trusted proxies by X-Forwarded-For)
and resource requests without a valid token, which are answered 401 but audited only as one
``unauthenticated`` summary entry per interval, so they cannot grow the audit log without bound.

The limiter, the address rule and the counter in-process (a fake clock, no timing); then the
broker as a process on SQLite."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_helpers import CAIRN, Broker, BrokerFiles, make_guest, running_broker, write_broker

from cairn_agent.broker_client import BrokerClient, BrokerUnavailableError
from cairn_verifier.serve.abuse import (
    RateLimiter,
    UnauthenticatedRequests,
    client_address,
    parse_networks,
)
from cairn_verifier.serve.config import load_serve_config

# --- in-process -----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_bucket_admits_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=6, burst=3, clock=clock)  # one request per 10 s
    assert [limiter.admit("a") for _ in range(3)] == [None, None, None]
    assert limiter.admit("a") == 10
    assert limiter.admit("b") is None  # another client has its own bucket
    clock.now += 4
    assert limiter.admit("a") == 6  # refused requests take nothing
    clock.now += 6
    assert limiter.admit("a") is None
    assert limiter.admit("a") == 10
    clock.now += 3600  # refilled to the burst, never beyond
    assert [limiter.admit("a") for _ in range(4)] == [None, None, None, 10]


def test_the_bucket_is_off_at_zero_and_keeps_a_bounded_number_of_clients() -> None:
    off = RateLimiter(per_minute=0, burst=1)
    assert not off.enabled and all(off.admit("a") is None for _ in range(100))
    bounded = RateLimiter(per_minute=60, burst=1, max_clients=10, clock=Clock())
    for number in range(1000):
        bounded.admit(f"10.0.{number // 256}.{number % 256}")
    assert len(bounded) == 10


def test_the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() -> None:
    proxies = parse_networks(["10.0.0.0/8", "fd00::/8"])
    assert client_address("192.0.2.1", ["203.0.113.9"], ()) == "192.0.2.1"
    assert client_address("192.0.2.1", ["203.0.113.9"], proxies) == "192.0.2.1"
    assert client_address("10.0.0.1", ["203.0.113.9"], proxies) == "203.0.113.9"
    assert client_address("10.0.0.1", [], proxies) == "10.0.0.1"
    # The nearest untrusted hop, right to left; what the client wrote further left is ignored.
    assert client_address("10.0.0.1", ["1.2.3.4, 203.0.113.9, 10.0.0.2"], proxies) == (
        "203.0.113.9"
    )
    assert client_address("10.0.0.1", ["1.2.3.4", "203.0.113.9"], proxies) == "203.0.113.9"
    assert client_address("10.0.0.1", ["203.0.113.9, garbage"], proxies) == "10.0.0.1"
    assert client_address("fd00::1", ["2001:db8::7"], proxies) == "2001:db8::7"


def test_the_counter_summarises_and_takes_back_what_it_could_not_record() -> None:
    counter = UnauthenticatedRequests()
    assert counter.take() is None
    for at, reason in enumerate(["token-required", "bad-token", "token-required"]):
        counter.count(reason, 100 + at)
    summary = counter.take()
    assert summary == {
        "from": 100,
        "to": 102,
        "requests": 3,
        "by_reason": {"bad-token": 1, "token-required": 2},
    }
    assert counter.take() is None
    counter.count("token-expired", 200)
    counter.put_back(summary)
    assert counter.take() == {
        "from": 100,
        "to": 200,
        "requests": 4,
        "by_reason": {"bad-token": 1, "token-expired": 1, "token-required": 2},
    }


def test_the_documented_defaults_and_bad_proxy_networks(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text('[signing]\nkey = "k.pem"\n')
    limits = load_serve_config(config).limits
    assert (limits.rate_limit_per_minute, limits.rate_limit_burst) == (60, 20)
    assert (limits.trusted_proxies, limits.unauthenticated_audit_seconds) == ([], 60)
    config.write_text('[signing]\nkey = "k.pem"\n[limits]\ntrusted_proxies = ["10.0.0.1/8"]\n')
    done = subprocess.run(
        [str(CAIRN), "serve", "--config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 10, done.stderr
    assert "limits.trusted_proxies" in done.stderr and "not a network" in done.stderr


# --- the broker as a process ----------------------------------------------------------------------


def _files(directory: Path, limits: str) -> BrokerFiles:
    guest = make_guest(directory / "guest")
    return write_broker(
        directory / "broker",
        database=f"sqlite:///{directory / 'state.db'}",
        root_pem=guest.root_pem,
        limits=limits,
    )


def _rate_limited(answer: httpx.Response) -> int:
    assert answer.status_code == 429, answer.text
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["type"] == "https://cairn.invalid/problems/rate-limited"
    assert problem["status"] == 429 and "retry in" in problem["detail"]
    retry_after = int(answer.headers["Retry-After"])
    assert retry_after >= 1
    return retry_after


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    files = _files(
        tmp_path_factory.mktemp("limited"), "rate_limit_per_minute = 1\nrate_limit_burst = 3\n"
    )
    with running_broker(files) as broker:
        yield broker


def test_challenge_and_attest_are_rate_limited_per_client(limited: Broker) -> None:
    with limited.client() as http:
        assert [http.post("/v1/challenge").status_code for _ in range(3)] == [201] * 3
        assert _rate_limited(http.post("/v1/challenge")) > 1
        # attest shares the bucket and is refused before its body is read
        _rate_limited(http.post("/v1/attest", content=b"not even json"))
        # X-Forwarded-For from a peer that is not a trusted proxy changes nothing
        _rate_limited(http.post("/v1/challenge", headers={"X-Forwarded-For": "203.0.113.5"}))
        assert http.get("/healthz").status_code == 200  # other endpoints are not limited
    # another client (another loopback address) has its own bucket
    other = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=limited.url, transport=other, trust_env=False) as http:
        assert http.post("/v1/challenge").status_code == 201


def test_the_agents_client_reads_the_retry_after(limited: Broker) -> None:
    client = BrokerClient(limited.url)
    try:
        for _ in range(5):  # the bucket holds at most 3
            client.challenge()
    except BrokerUnavailableError as error:
        assert "rate-limited" in str(error)
        assert error.retry_after is not None and error.retry_after >= 1
    else:
        raise AssertionError("never rate-limited")
    finally:
        client.close()


def test_behind_a_trusted_proxy_the_forwarded_client_is_limited(tmp_path: Path) -> None:
    files = _files(
        tmp_path,
        'rate_limit_per_minute = 1\nrate_limit_burst = 1\ntrusted_proxies = ["127.0.0.0/8"]\n',
    )
    with running_broker(files) as broker, broker.client() as http:
        one = {"X-Forwarded-For": "203.0.113.5"}
        assert http.post("/v1/challenge", headers=one).status_code == 201
        _rate_limited(http.post("/v1/challenge", headers=one))
        two = {"X-Forwarded-For": "203.0.113.5, 203.0.113.6"}  # the proxy saw .6
        assert http.post("/v1/challenge", headers=two).status_code == 201
        assert http.post("/v1/challenge").status_code == 201  # the proxy itself, no header


def _audit_events(files: BrokerFiles) -> list[tuple[str, dict[str, Any]]]:
    url = files.config.read_text().split('url = "sqlite:///')[1].split('"')[0]
    with sqlite3.connect(url) as conn:
        rows = conn.execute("SELECT event, detail FROM audit_log ORDER BY seq").fetchall()
    return [(event, json.loads(detail)) for event, detail in rows]


def _unauthenticated_requests(http: httpx.Client, rounds: int) -> None:
    for _ in range(rounds):
        answers = [
            http.get("/v1/resources/state-key"),
            http.get("/v1/resources/state-key", headers={"Authorization": "Bearer a.b.c"}),
            http.get("/v1/resources/NOT%20A%20NAME", headers={"Authorization": "Basic x"}),
        ]
        assert [a.status_code for a in answers] == [401, 401, 401]


def test_requests_without_a_valid_token_are_audited_as_one_summary(tmp_path: Path) -> None:
    files = _files(tmp_path, "rate_limit_per_minute = 0\nunauthenticated_audit_seconds = 86400\n")
    with running_broker(files) as broker, broker.client() as http:
        _unauthenticated_requests(http, 100)
        assert _audit_events(files) == []  # nothing per request
    # Stopping the broker records what the interval counted: one entry for 300 requests.
    [(event, summary)] = _audit_events(files)
    assert event == "unauthenticated"
    assert summary["requests"] == 300
    assert summary["by_reason"] == {"bad-token": 100, "token-required": 200}
    assert summary["from"] <= summary["to"]
    verified = subprocess.run(
        [str(CAIRN), "serve", "audit", "verify", "--config", str(files.config)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert "1 entries" in verified.stdout


def test_the_summary_is_written_every_interval_while_serving(tmp_path: Path) -> None:
    files = _files(tmp_path, "rate_limit_per_minute = 0\nunauthenticated_audit_seconds = 1\n")
    with running_broker(files) as broker, broker.client() as http:
        _unauthenticated_requests(http, 10)
        deadline = time.monotonic() + 60
        while not _audit_events(files) and time.monotonic() < deadline:
            time.sleep(0.2)
        counted = sum(s["requests"] for _, s in _audit_events(files))
        assert counted > 0, "no summary while serving"
        _unauthenticated_requests(http, 10)
    events = _audit_events(files)
    assert {event for event, _ in events} == {"unauthenticated"}
    assert sum(s["requests"] for _, s in events) == 60  # every request counted exactly once
