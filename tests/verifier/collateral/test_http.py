"""HttpFetcher: retries, back-off, Retry-After, time-outs, dropped connections, and which
failures are not retried (unresolvable name, closed port, TLS mismatch), against a local server."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from fakes.http_server import Delay, Drop, RecordedServer, Reply
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier import __version__
from cairn_verifier.collateral.http import (
    CollateralNotFoundError,
    FailureKind,
    FetchError,
    HttpFetcher,
    RetryPolicy,
    classify,
    parse_retry_after,
)
from cairn_verifier.errors import CollateralUnavailableError, ExitCode

pytest_plugins = ["fakes.fixtures"]

UNRESOLVABLE = "http://cairn-test.invalid"  # RFC 2606: never resolves
PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """Requests go straight to the URL's host, whatever the machine's proxy settings."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def closed_port_url(path: str = "/x") -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"  # nothing listens there any more


@dataclass
class RecordingProgress:
    """A FetchProgress that records every event."""

    events: list[tuple] = field(default_factory=list)

    def started(self, what: str, url: str) -> None:
        self.events.append(("started", what, url))

    def finished(self, what: str, url: str) -> None:
        self.events.append(("finished", what, url))

    def retrying(self, what, url, *, attempt, attempts, delay, reason) -> None:
        self.events.append(("retrying", attempt, attempts, delay, reason))


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
    assert isinstance(err, FetchError)
    assert (err.kind, err.attempts, err.status) == (FailureKind.SERVICE_UNAVAILABLE, 3, 503)
    assert err.hint == "the service is failing: retry later; " + HINT
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


def test_connection_refused_is_not_retried(sleeps):
    url = closed_port_url()
    progress = RecordingProgress()
    fetcher = HttpFetcher(policy=RetryPolicy(attempts=4), sleep=sleeps.append, progress=progress)
    with fetcher, pytest.raises(FetchError) as info:
        fetcher.get(url, what="the Milan VCEK", hint="pass --certs")
    err = info.value
    assert (err.kind, err.attempts, err.exit_code) == (FailureKind.CONNECTION_REFUSED, 1, 5)
    host_port = url.removeprefix("http://").removesuffix("/x")
    assert err.message == (
        f"the Milan VCEK: {host_port} refused the connection (nothing listens there); "
        f"not retried (GET {url})"
    )
    assert err.hint == "check the URL and port; pass --certs"
    assert sleeps == []
    assert [event[0] for event in progress.events] == ["started", "finished"]


def test_unresolvable_name_is_not_retried(sleeps):
    fetcher = HttpFetcher(policy=RetryPolicy(attempts=4), sleep=sleeps.append)
    with fetcher, pytest.raises(FetchError) as info:
        fetcher.get(UNRESOLVABLE + "/vcek/v1/Milan/crl", what="the Milan VCEK CRL")
    err = info.value
    assert (err.kind, err.attempts) == (FailureKind.NAME_RESOLUTION, 1)
    assert err.kind.unreachable and not err.kind.retryable
    assert err.message.startswith("the Milan VCEK CRL: cannot resolve cairn-test.invalid (")
    assert "no network or no DNS; not retried" in err.message
    assert "rate" not in err.message + str(err.hint)  # not a rate-limit story
    assert err.hint == "check the network connection and DNS"
    assert sleeps == []


def test_unresolvable_proxy_is_named_as_the_proxy(sleeps, monkeypatch, recorded_server):
    monkeypatch.setenv("HTTP_PROXY", UNRESOLVABLE + ":3128")
    fetcher = HttpFetcher(sleep=sleeps.append)
    with fetcher, pytest.raises(FetchError) as info:
        fetcher.get(recorded_server.url("/x").replace("127.0.0.1", "cairn-host.invalid"))
    assert info.value.kind is FailureKind.NAME_RESOLUTION
    assert "cannot resolve the proxy cairn-test.invalid (HTTP_PROXY)" in info.value.message
    assert sleeps == []


def test_tls_to_a_plain_http_server_is_not_retried(recorded_server, sleeps):
    recorded_server.script("/x", Reply(200, b"ok"))
    url = recorded_server.url("/x").replace("http://", "https://")
    fetcher = HttpFetcher(sleep=sleeps.append)
    with fetcher, pytest.raises(FetchError) as info:
        fetcher.get(url, what="the TDX TCB info")
    err = info.value
    assert (err.kind, err.attempts) == (FailureKind.TLS, 1)
    assert "TLS with 127.0.0.1:" in err.message and "wrong version number" in err.message
    assert err.hint == "check that the URL's scheme matches the server (https:// for a TLS server)"
    assert sleeps == []
    assert recorded_server.count("/x") == 0  # the TLS hello is not a request it could serve


def _raised(exc: httpx.HTTPError, cause: BaseException) -> httpx.HTTPError:
    """``exc`` as httpx raises it: from the underlying error."""
    try:
        raise exc from cause
    except httpx.HTTPError as raised:
        return raised


@pytest.mark.parametrize(
    ("exc", "kind", "detail"),
    [
        (
            _raised(httpx.ConnectError("x"), OSError(errno.ENETUNREACH, "Network is unreachable")),
            FailureKind.NETWORK_UNREACHABLE,
            "network unreachable: no route to kdsintf.amd.com:443 (Network is unreachable)",
        ),
        (
            _raised(httpx.ConnectError("x"), OSError(errno.EHOSTUNREACH, "No route to host")),
            FailureKind.NETWORK_UNREACHABLE,
            "network unreachable: no route to kdsintf.amd.com:443 (No route to host)",
        ),
        (
            httpx.ConnectTimeout("timed out"),
            FailureKind.CONNECT_TIMEOUT,
            "no connection to kdsintf.amd.com:443 within 5 s (connect timed out)",
        ),
        (httpx.ReadTimeout("timed out"), FailureKind.TIMEOUT, "timed out after 20 s"),
        (
            _raised(httpx.ReadError("x"), ConnectionResetError(errno.ECONNRESET, "reset")),
            FailureKind.CONNECTION_LOST,
            "connection failed (ReadError: reset)",
        ),
        (
            _raised(httpx.ConnectError("x"), socket.gaierror(-3, "Temporary failure")),
            FailureKind.NAME_RESOLUTION,
            "cannot resolve kdsintf.amd.com (Temporary failure): no network or no DNS",
        ),
    ],
)
def test_classify_by_the_os_error_underneath(exc, kind, detail):
    failure = classify(exc, "https://kdsintf.amd.com/vcek/v1/Milan/crl", 20.0, 5.0)
    assert (failure.kind, failure.detail) == (kind, detail)


def test_read_timeouts_are_retried_but_connect_timeouts_are_not():
    assert FailureKind.TIMEOUT.retryable and not FailureKind.TIMEOUT.unreachable
    assert not FailureKind.CONNECT_TIMEOUT.retryable and FailureKind.CONNECT_TIMEOUT.unreachable


def test_progress_reports_each_retry_with_its_reason_and_delay(recorded_server, fetcher, sleeps):
    recorded_server.script(
        "/c", Reply(503, b"busy", {"Retry-After": "2"}), Reply(429), Reply(200, b"ok")
    )
    progress = RecordingProgress()
    fetcher.progress = progress
    url = recorded_server.url("/c")
    assert fetcher.get(url, what="the Milan VCEK").body == b"ok"
    assert progress.events == [
        ("started", "the Milan VCEK", url),
        ("finished", "the Milan VCEK", url),
        ("retrying", 2, 3, 2.0, "HTTP 503: 'busy'"),
        ("started", "the Milan VCEK", url),
        ("finished", "the Milan VCEK", url),
        ("retrying", 3, 3, 2.0, "HTTP 429"),
        ("started", "the Milan VCEK", url),
        ("finished", "the Milan VCEK", url),
    ]
    assert sleeps == [2.0, 2.0]


def test_oversized_body_is_refused(recorded_server, sleeps):
    recorded_server.script("/big", Reply(200, b"x" * 1000))
    fetcher = HttpFetcher(max_body_bytes=100, sleep=sleeps.append)
    with fetcher, pytest.raises(CollateralUnavailableError, match="larger than 100 bytes"):
        fetcher.get(recorded_server.url("/big"))


def test_unsupported_url_scheme_is_a_typed_error(fetcher, sleeps):
    with pytest.raises(FetchError, match="cannot request") as info:
        fetcher.get("ftp://127.0.0.1/x")
    assert (info.value.kind, info.value.attempts, sleeps) == (FailureKind.BAD_URL, 1, [])


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
