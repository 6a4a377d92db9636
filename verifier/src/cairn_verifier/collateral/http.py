"""HTTP GET with bounded retries, deterministic exponential back-off and ``Retry-After``.

Used for every collateral service (AMD KDS, Intel PCS/PCCS). Every failure is classified
(:class:`FailureKind`): failures that waiting cannot fix — a name that does not resolve, a refused
connection, no route to the host, a TLS failure, a connection that cannot be opened in time, a
404 or another 4xx — fail at once; a read time-out, a dropped connection, 429 and 5xx are retried
after a back-off or the server's ``Retry-After``. Every final failure is a :class:`FetchError`
(a :class:`~cairn_verifier.errors.CollateralUnavailableError`, exit code 5) that names the URL,
what went wrong, how many attempts were made, and a hint true for that kind of failure.
Retries and slow requests are reported to an optional :class:`FetchProgress`.
"""

from __future__ import annotations

import errno
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from .failures import CollateralNotFoundError, FailureKind, FetchError, join_hints, kind_hint

if TYPE_CHECKING:  # httpx (and ssl, socket, urllib.request) load when a request is made
    import httpx
MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_TIMEOUT = 20.0
DEFAULT_CONNECT_TIMEOUT = 5.0
_DELAY_SECONDS = re.compile(r"[0-9]{1,12}")
_UNREACHABLE_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.EADDRNOTAVAIL}
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    ``attempts`` counts every request, the first included. The n-th retry waits
    ``min(max_delay, base_delay * 2**n)`` seconds unless the server sent ``Retry-After``;
    a ``Retry-After`` longer than ``max_retry_after`` fails at once, saying when to retry.
    """

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0:
            raise ValueError("RetryPolicy delays must not be negative")

    def backoff(self, retry_index: int) -> float:
        """The delay before retry number ``retry_index`` (0 for the first retry)."""
        return float(min(self.max_delay, self.base_delay * (2**retry_index)))


class FetchProgress(Protocol):
    """Told about each request, so a terminal can show what Cairn is waiting for."""

    def started(self, what: str, url: str) -> None:
        """A request for ``what`` at ``url`` begins (also before each retry)."""

    def finished(self, what: str, url: str) -> None:
        """The request that last ``started`` ended, whatever its outcome."""

    def retrying(
        self, what: str, url: str, *, attempt: int, attempts: int, delay: float, reason: str
    ) -> None:
        """Attempt number ``attempt`` of ``attempts`` follows in ``delay`` s after ``reason``."""


@dataclass(frozen=True)
class FetchedResponse:
    """A successful (2xx) answer. Header names are lower-case."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    url: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait for a ``Retry-After`` value (delay-seconds or HTTP-date); None if invalid."""
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        return float(int(text))
    try:
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class _BodyTooLargeError(Exception):
    pass


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str]
    url: str


@dataclass(frozen=True)
class Failure:
    """One failed attempt: its kind, a one-line description, the HTTP status and the delay the
    server asked for (``Retry-After``), if any."""

    kind: FailureKind
    detail: str
    status: int | None = None
    retry_after: float | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _snippet(body: bytes, limit: int = 200) -> str:
    """A short printable excerpt of an error body, or '' when it is not text."""
    try:
        text = body[:limit].decode("utf-8").strip()
    except UnicodeDecodeError:
        return ""
    text = " ".join(text.split())
    return f": {text!r}" if text and text.isprintable() else ""


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from (httpx wraps httpcore wraps OSError)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _reason(exc: BaseException) -> str:
    """The OS's words for a socket error ('Name or service not known'), else the message."""
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class _Endpoint:
    """Where a request actually goes: the URL's host, or the proxy the environment names."""

    host: str
    port: int | None
    proxy: str | None = None

    def __str__(self) -> str:
        where = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"the proxy {where} ({self.proxy})" if self.proxy else where


def _endpoint(url: str) -> _Endpoint:
    import urllib.request

    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        port = None
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        name = "ALL_PROXY" if proxy is proxies.get("all") else f"{parts.scheme.upper()}_PROXY"
        try:
            proxy_port = proxy_parts.port
        except ValueError:
            proxy_port = None
        return _Endpoint(proxy_parts.hostname or proxy, proxy_port, name)
    return _Endpoint(host, port)


def classify(exc: httpx.HTTPError, url: str, timeout: float, connect_timeout: float) -> Failure:
    """What an httpx exception means for the user, from the OS error underneath it."""
    import socket
    import ssl

    import httpx

    where = _endpoint(url)
    causes = _causes(exc)
    root = causes[-1]
    if isinstance(exc, httpx.ConnectTimeout):
        return Failure(
            FailureKind.CONNECT_TIMEOUT,
            f"no connection to {where} within {connect_timeout:g} s (connect timed out)",
        )
    if isinstance(exc, httpx.TimeoutException):
        return Failure(FailureKind.TIMEOUT, f"timed out after {timeout:g} s")
    if isinstance(exc, httpx.ConnectError):
        if any(isinstance(cause, socket.gaierror) for cause in causes):
            name = f"the proxy {where.host} ({where.proxy})" if where.proxy else where.host
            return Failure(
                FailureKind.NAME_RESOLUTION,
                f"cannot resolve {name} ({_reason(root)}): no network or no DNS",
            )
        if any(isinstance(cause, ssl.SSLError) for cause in causes):
            return Failure(FailureKind.TLS, f"TLS with {where} failed ({_reason(root)})")
        if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
            return Failure(
                FailureKind.CONNECTION_REFUSED,
                f"{where} refused the connection (nothing listens there)",
            )
        if any(
            isinstance(cause, OSError) and cause.errno in _UNREACHABLE_ERRNOS for cause in causes
        ):
            return Failure(
                FailureKind.NETWORK_UNREACHABLE,
                f"network unreachable: no route to {where} ({_reason(root)})",
            )
    if isinstance(exc, httpx.ProxyError):
        return Failure(FailureKind.PROXY, f"the proxy failed ({exc})")
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        return Failure(
            FailureKind.CONNECTION_LOST,
            f"connection failed ({type(exc).__name__}: {_reason(root)})",
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return Failure(FailureKind.BAD_URL, f"cannot request it ({type(exc).__name__}: {exc})")
    return Failure(FailureKind.REQUEST_REFUSED, f"cannot request it ({type(exc).__name__}: {exc})")


def _http_failure(answer: _Answer, now: datetime) -> Failure:
    status = answer.status
    snippet = _snippet(answer.body)
    if status == 404:
        return Failure(FailureKind.NOT_FOUND, f"answered 404{snippet}", status)
    if status == 429:
        kind = FailureKind.RATE_LIMITED
    elif status >= 500:
        kind = FailureKind.SERVICE_UNAVAILABLE
    else:
        return Failure(FailureKind.REQUEST_REFUSED, f"answered HTTP {status}{snippet}", status)
    header = answer.headers.get("retry-after")
    wait = parse_retry_after(header, now) if header is not None else None
    return Failure(kind, f"HTTP {status}{snippet}", status, wait)


def default_user_agent() -> str:
    """``cairn-verifier/VERSION``, the User-Agent of every collateral request."""
    from .. import __version__

    return f"cairn-verifier/{__version__}"


class HttpFetcher:
    """GETs URLs with retries and back-off; ``sleep`` and ``clock`` are injectable for tests."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = _utc_now,
        client: httpx.Client | None = None,
        user_agent: str | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        progress: FetchProgress | None = None,
    ):
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self.policy = policy or RetryPolicy()
        self.progress = progress
        self._sleep = sleep
        self._clock = clock
        self._max_body = max_body_bytes
        import httpx

        user_agent = user_agent or default_user_agent()
        self._owns_client = client is None
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=self.connect_timeout),
            headers={"User-Agent": user_agent},
            follow_redirects=True,
        )
        if client is not None:
            self._client.headers.setdefault("User-Agent", user_agent)

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def get(
        self, url: str, *, what: str = "collateral", hint: str | None = None
    ) -> FetchedResponse:
        """GET ``url``; return the 2xx answer or raise :class:`FetchError`.

        ``what`` names the thing fetched in messages ("the Milan VCEK"); ``hint`` says what the
        user can do instead, and follows the hint for the kind of failure.
        """
        policy = self.policy
        attempt = 0
        while True:
            attempt += 1
            failure = self._attempt(url, what)
            if isinstance(failure, FetchedResponse):
                return failure
            if not failure.kind.retryable:
                raise self._error(url, what, hint, failure, attempt, final=True)
            delay = policy.backoff(attempt - 1)
            if failure.retry_after is not None:
                if failure.retry_after > policy.max_retry_after:
                    raise self._too_late(url, what, hint, failure, attempt)
                delay = failure.retry_after
            if attempt >= policy.attempts:
                raise self._error(url, what, hint, failure, attempt, final=False)
            if self.progress is not None:
                self.progress.retrying(
                    what,
                    url,
                    attempt=attempt + 1,
                    attempts=policy.attempts,
                    delay=delay,
                    reason=failure.detail,
                )
            self._sleep(delay)

    def _attempt(self, url: str, what: str) -> FetchedResponse | Failure:
        """One request: the 2xx answer, or what went wrong."""
        import httpx

        if self.progress is not None:
            self.progress.started(what, url)
        try:
            answer = self._request(url)
        except _BodyTooLargeError:
            return Failure(
                FailureKind.TOO_LARGE, f"the answer is larger than {self._max_body} bytes"
            )
        except httpx.HTTPError as exc:
            return classify(exc, url, self.timeout, self.connect_timeout)
        finally:
            if self.progress is not None:
                self.progress.finished(what, url)
        if 200 <= answer.status < 300:
            return FetchedResponse(answer.status, answer.body, answer.headers, answer.url)
        return _http_failure(answer, self._clock())

    def _error(
        self,
        url: str,
        what: str,
        hint: str | None,
        failure: Failure,
        attempts: int,
        *,
        final: bool,
    ) -> FetchError:
        if failure.kind is FailureKind.NOT_FOUND:
            return CollateralNotFoundError(
                f"{what} was not found: {url} {failure.detail}",
                kind=failure.kind,
                url=url,
                attempts=attempts,
                status=failure.status,
                hint=hint,
            )
        if final:
            tried = "" if attempts == 1 else f" after attempt {attempts}"
            message = f"{what}: {failure.detail}; not retried{tried} (GET {url})"
        else:
            message = (
                f"{what}: could not fetch {url} after {attempts} attempt(s); last: {failure.detail}"
            )
        return FetchError(
            message,
            kind=failure.kind,
            url=url,
            attempts=attempts,
            status=failure.status,
            hint=join_hints(kind_hint(failure.kind, failure.detail), hint),
        )

    def _too_late(
        self, url: str, what: str, hint: str | None, failure: Failure, attempts: int
    ) -> FetchError:
        assert failure.retry_after is not None
        wait = failure.retry_after
        when = self._clock() + timedelta(seconds=wait)
        return FetchError(
            f"{what}: {url} answered HTTP {failure.status} and asks to retry after "
            f"{wait:.0f} s (at {when:%Y-%m-%d %H:%M:%S} UTC), longer than the "
            f"{self.policy.max_retry_after:.0f} s Cairn waits",
            kind=failure.kind,
            url=url,
            attempts=attempts,
            status=failure.status,
            hint=join_hints(f"retry after {when:%Y-%m-%d %H:%M:%S} UTC", hint),
        )

    def _request(self, url: str) -> _Answer:
        with self._client.stream("GET", url) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self._max_body:
                    raise _BodyTooLargeError
                chunks.append(chunk)
            headers = {name.lower(): value for name, value in response.headers.items()}
            return _Answer(response.status_code, b"".join(chunks), headers, str(response.url))
