"""HTTP GET with bounded retries, deterministic exponential back-off and ``Retry-After``.

Used for every collateral service (AMD KDS, Intel PCS/PCCS). Retries connection failures,
time-outs, 429 and 5xx answers; any other 4xx fails at once. Every final failure is a
:class:`~cairn_verifier.errors.CollateralUnavailableError` (exit code 5) that names the URL,
the last status or error, and a hint.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType

import httpx

from .. import __version__
from ..errors import CollateralUnavailableError

USER_AGENT = f"cairn-verifier/{__version__}"
COMPONENT = "collateral"
MAX_BODY_BYTES = 16 * 1024 * 1024
_DELAY_SECONDS = re.compile(r"[0-9]{1,12}")


class CollateralNotFoundError(CollateralUnavailableError):
    """The service answered 404: what was asked for does not exist there."""


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


class HttpFetcher:
    """GETs URLs with retries and back-off; ``sleep`` and ``clock`` are injectable for tests."""

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = _utc_now,
        client: httpx.Client | None = None,
        user_agent: str = USER_AGENT,
        max_body_bytes: int = MAX_BODY_BYTES,
    ):
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._max_body = max_body_bytes
        self._owns_client = client is None
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(timeout),
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
        """GET ``url``; return the 2xx answer or raise ``CollateralUnavailableError``.

        ``what`` names the thing fetched in error messages ("the VCEK for ..."); ``hint`` says
        what the user can do when the service cannot deliver it.
        """
        policy = self.policy
        last = "no attempt made"
        delay = 0.0
        for attempt in range(policy.attempts):
            if attempt:
                self._sleep(delay)
            delay = policy.backoff(attempt)
            try:
                answer = self._request(url)
            except httpx.TimeoutException:
                last = f"timed out after {self.timeout:g} s"
                continue
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                last = f"connection failed ({type(exc).__name__}: {exc})"
                continue
            except _BodyTooLargeError:
                raise CollateralUnavailableError(
                    f"{what}: the answer from {url} is larger than {self._max_body} bytes",
                    component=COMPONENT,
                    hint=hint,
                ) from None
            except httpx.HTTPError as exc:
                raise CollateralUnavailableError(
                    f"{what}: cannot request {url} ({type(exc).__name__}: {exc})",
                    component=COMPONENT,
                    hint=hint,
                ) from None

            status = answer.status
            if 200 <= status < 300:
                return FetchedResponse(status, answer.body, answer.headers, answer.url)
            if status == 404:
                raise CollateralNotFoundError(
                    f"{what} was not found: {url} answered 404{_snippet(answer.body)}",
                    component=COMPONENT,
                    hint=hint,
                )
            last = f"HTTP {status}{_snippet(answer.body)}"
            if status != 429 and status < 500:
                raise CollateralUnavailableError(
                    f"{what}: {url} answered {last}", component=COMPONENT, hint=hint
                )
            retry_after = answer.headers.get("retry-after")
            if retry_after is not None:
                now = self._clock()
                wait = parse_retry_after(retry_after, now)
                if wait is not None:
                    if wait > policy.max_retry_after:
                        when = now + timedelta(seconds=wait)
                        raise CollateralUnavailableError(
                            f"{what}: {url} answered HTTP {status} and asks to retry after "
                            f"{wait:.0f} s (at {when:%Y-%m-%d %H:%M:%S} UTC), longer than the "
                            f"{policy.max_retry_after:.0f} s Cairn waits",
                            component=COMPONENT,
                            hint=f"retry after {when:%Y-%m-%d %H:%M:%S} UTC"
                            + (f"; {hint}" if hint else ""),
                        )
                    delay = wait
        raise CollateralUnavailableError(
            f"{what}: could not fetch {url} after {policy.attempts} attempt(s); last: {last}",
            component=COMPONENT,
            hint=hint,
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
