"""HttpFetcher: retries, back-off, Retry-After, time-outs and dropped connections (local server)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from fakes.http_server import Delay, Drop, RecordedServer, Reply
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier import __version__
from cairn_verifier.collateral.http import (
    CollateralNotFoundError,
    HttpFetcher,
    RetryPolicy,
    parse_retry_after,
)
from cairn_verifier.errors import CollateralUnavailableError, ExitCode

pytest_plugins = ["fakes.fixtures"]

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
HINT = "AMD KDS allows about one request per 10 s per IP; retry later"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def fetcher(sleeps):
    policy = RetryPolicy(attempts=3, base_delay=1.0, max_delay=8.0, max_retry_after=60.0)
    with HttpFetcher(timeout=0.5, policy=policy, sleep=sleeps.append, clock=lambda: NOW) as f:
        yield f


def test_success_returns_body_headers_and_sends_user_agent(recorded_server, fetcher, sleeps):
    recorded_server.script("/a?x=1", Reply(200, b"\x30\x00", {"X-Thing": "yes"}))
    response = fetcher.get(recorded_server.url("/a?x=1"))
    assert response.status == 200
    assert response.body == b"\x30\x00"
    assert response.header("X-Thing") == "yes"
    assert response.url == recorded_server.url("/a?x=1")
    (request,) = recorded_server.requests
    assert request.target == "/a?x=1"
    assert request.headers["user-agent"] == f"cairn-verifier/{__version__}"
    assert sleeps == []


def test_429_with_retry_after_seconds_then_success(recorded_server, fetcher, sleeps):
    recorded_server.script("/c", Reply(429, headers={"Retry-After": "7"}), Reply(200, b"ok"))
    assert fetcher.get(recorded_server.url("/c")).body == b"ok"
    assert sleeps == [7.0]
    assert recorded_server.count("/c") == 2


def test_429_with_retry_after_http_date_then_success(recorded_server, fetcher, sleeps):
    date = "Sun, 01 Mar 2026 12:00:12 GMT"  # NOW + 12 s
    recorded_server.script("/c", Reply(429, headers={"Retry-After": date}), Reply(200, b"ok"))
    assert fetcher.get(recorded_server.url("/c")).body == b"ok"
    assert sleeps == [12.0]


def test_503_with_retry_after_is_honoured(recorded_server, fetcher, sleeps):
    recorded_server.script("/c", Reply(503, headers={"Retry-After": "3"}), Reply(200, b"ok"))
    assert fetcher.get(recorded_server.url("/c")).body == b"ok"
    assert sleeps == [3.0]


def test_retry_after_beyond_cap_fails_at_once_saying_when(recorded_server, fetcher, sleeps):
    recorded_server.script("/c", Reply(429, headers={"Retry-After": "3600"}))
    with pytest.raises(CollateralUnavailableError) as info:
        fetcher.get(recorded_server.url("/c"), what="the Milan VCEK", hint=HINT)
    err = info.value
    assert err.exit_code is ExitCode.COLLATERAL_UNAVAILABLE
    assert "3600 s" in err.message and "the Milan VCEK" in err.message
    assert err.hint is not None
    assert err.hint.startswith("retry after 2026-03-01 13:00:00 UTC")
    assert HINT in err.hint
    assert sleeps == []
    assert recorded_server.count() == 1


def test_503_repeatedly_gives_up_with_exit_5_and_hint(recorded_server, fetcher, sleeps):
    recorded_server.script("/c", Reply(503, b"Service Unavailable"))
    url = recorded_server.url("/c")
    with pytest.raises(CollateralUnavailableError) as info:
        fetcher.get(url, what="the Milan CRL", hint=HINT)
    err = info.value
    assert err.exit_code == 5
    assert url in err.message and "HTTP 503" in err.message and "3 attempt" in err.message
    assert err.hint == HINT
    assert err.component == "collateral"
    assert sleeps == [1.0, 2.0]  # deterministic back-off, no sleep after the last attempt
    assert recorded_server.count("/c") == 3


def test_unparsable_retry_after_falls_back_to_backoff(recorded_server, fetcher, sleeps):
    recorded_server.script("/c", Reply(500, headers={"Retry-After": "soon"}), Reply(200, b"ok"))
    assert fetcher.get(recorded_server.url("/c")).body == b"ok"
    assert sleeps == [1.0]


def test_404_is_not_retried_and_names_what_was_missing(recorded_server, fetcher, sleeps):
    recorded_server.script("/vcek/v1/Milan/00", Reply(404, b"Not Found"))
    with pytest.raises(CollateralNotFoundError) as info:
        fetcher.get(recorded_server.url("/vcek/v1/Milan/00"), what="the Milan VCEK", hint=HINT)
    assert info.value.exit_code == 5
    assert "the Milan VCEK was not found" in info.value.message
    assert "404" in info.value.message and "'Not Found'" in info.value.message
    assert recorded_server.count() == 1
    assert sleeps == []


def test_other_4xx_is_not_retried(recorded_server, fetcher, sleeps):
    recorded_server.script("/c", Reply(400, b"bad hwid"))
    with pytest.raises(CollateralUnavailableError) as info:
        fetcher.get(recorded_server.url("/c"))
    assert not isinstance(info.value, CollateralNotFoundError)
    assert "HTTP 400" in info.value.message and "bad hwid" in info.value.message
    assert recorded_server.count() == 1
    assert sleeps == []


def test_timeout_is_retried(recorded_server, fetcher, sleeps):
    recorded_server.script("/slow", Delay(5.0, Reply(200, b"late")), Reply(200, b"ok"))
    assert fetcher.get(recorded_server.url("/slow")).body == b"ok"
    assert sleeps == [1.0]
    assert recorded_server.count("/slow") == 2


def test_timeouts_exhaust_retries(recorded_server, sleeps):
    recorded_server.script("/slow", Delay(5.0))
    policy = RetryPolicy(attempts=2, base_delay=0.5)
    fetcher = HttpFetcher(timeout=0.2, policy=policy, sleep=sleeps.append)
    with fetcher, pytest.raises(CollateralUnavailableError) as info:
        fetcher.get(recorded_server.url("/slow"))
    assert "timed out after 0.2 s" in info.value.message
    assert sleeps == [0.5]


def test_connection_drop_is_retried(recorded_server, fetcher, sleeps):
    recorded_server.script("/d", Drop(), Reply(200, b"ok"))
    assert fetcher.get(recorded_server.url("/d")).body == b"ok"
    assert sleeps == [1.0]


def test_connection_drops_exhaust_retries(recorded_server, fetcher, sleeps):
    recorded_server.script("/d", Drop())
    with pytest.raises(CollateralUnavailableError) as info:
        fetcher.get(recorded_server.url("/d"))
    assert "connection failed" in info.value.message
    assert recorded_server.count("/d") == 3


def test_connection_refused_is_retried_then_fails(sleeps):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x"  # nothing listens there any more
    fetcher = HttpFetcher(timeout=0.5, policy=RetryPolicy(attempts=2), sleep=sleeps.append)
    with fetcher, pytest.raises(CollateralUnavailableError) as info:
        fetcher.get(url)
    assert url in info.value.message and "connection failed" in info.value.message
    assert sleeps == [1.0]


def test_oversized_body_is_refused(recorded_server, sleeps):
    recorded_server.script("/big", Reply(200, b"x" * 1000))
    fetcher = HttpFetcher(max_body_bytes=100, sleep=sleeps.append)
    with fetcher, pytest.raises(CollateralUnavailableError, match="larger than 100 bytes"):
        fetcher.get(recorded_server.url("/big"))


def test_unsupported_url_scheme_is_a_typed_error(fetcher):
    with pytest.raises(CollateralUnavailableError, match="cannot request"):
        fetcher.get("ftp://127.0.0.1/x")


def test_backoff_doubles_and_is_capped():
    policy = RetryPolicy(base_delay=1.5, max_delay=5.0)
    assert [policy.backoff(n) for n in range(5)] == [1.5, 3.0, 5.0, 5.0, 5.0]


def test_retry_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=-1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        (" 120 ", 120.0),
        ("Sun, 01 Mar 2026 12:01:00 GMT", 60.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past: retry now
        ("-5", None),
        ("1.5", None),
        ("tomorrow", None),
        ("", None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, NOW) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_parse_retry_after_never_raises(value):
    result = parse_retry_after(value, NOW)
    assert result is None or result >= 0.0


def test_server_is_reusable_with_context_manager():
    with RecordedServer({"/x": Reply(200, b"1")}) as server:
        url = server.url("/x")
        with HttpFetcher() as fetcher:
            assert fetcher.get(url).body == b"1"
    assert server.count("/x") == 1
