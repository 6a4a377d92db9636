"""Why a collateral request failed, and what to check: shared by the HTTP client
(:mod:`.http`) and the lookups that word its errors (:mod:`.lookup`), which an offline
verification runs without loading the client (docs/performance.md, start-up)."""

from __future__ import annotations

from enum import StrEnum

from ..errors import CollateralUnavailableError

COMPONENT = "collateral"


class FailureKind(StrEnum):
    """Why a request failed; decides whether it is retried and what the hint says."""

    NAME_RESOLUTION = "name-resolution"
    CONNECTION_REFUSED = "connection-refused"
    NETWORK_UNREACHABLE = "network-unreachable"
    CONNECT_TIMEOUT = "connect-timeout"
    TLS = "tls"
    PROXY = "proxy"
    TIMEOUT = "timeout"
    CONNECTION_LOST = "connection-lost"
    RATE_LIMITED = "rate-limited"
    SERVICE_UNAVAILABLE = "service-unavailable"
    NOT_FOUND = "not-found"
    REQUEST_REFUSED = "request-refused"
    TOO_LARGE = "too-large"
    BAD_URL = "bad-url"

    @property
    def retryable(self) -> bool:
        """Whether waiting a few seconds can change the outcome."""
        return self in _RETRYABLE

    @property
    def unreachable(self) -> bool:
        """The service could not be reached at all (as opposed to answering badly)."""
        return self in _UNREACHABLE


_RETRYABLE = frozenset(
    {
        FailureKind.TIMEOUT,
        FailureKind.CONNECTION_LOST,
        FailureKind.RATE_LIMITED,
        FailureKind.SERVICE_UNAVAILABLE,
    }
)
_UNREACHABLE = frozenset(
    {
        FailureKind.NAME_RESOLUTION,
        FailureKind.CONNECTION_REFUSED,
        FailureKind.NETWORK_UNREACHABLE,
        FailureKind.CONNECT_TIMEOUT,
        FailureKind.TLS,
        FailureKind.PROXY,
    }
)


class FetchError(CollateralUnavailableError):
    """A collateral request failed: ``kind`` says why, ``attempts`` how often it was tried."""

    def __init__(
        self,
        message: str,
        *,
        kind: FailureKind,
        url: str,
        attempts: int,
        status: int | None = None,
        component: str | None = COMPONENT,
        hint: str | None = None,
    ):
        super().__init__(message, component=component, hint=hint)
        self.kind = kind
        self.url = url
        self.attempts = attempts
        self.status = status


class CollateralNotFoundError(FetchError):
    """The service answered 404: what was asked for does not exist there."""


def kind_hint(kind: FailureKind, detail: str = "") -> str:
    """What to check for a failure of this kind, whatever the service (no command options)."""
    if kind is FailureKind.TLS:
        if "certificate verify failed" in detail:
            return (
                "the server's certificate is not trusted here: check the system clock and the CA "
                "certificates (SSL_CERT_FILE), or whether a proxy intercepts TLS"
            )
        return "check that the URL's scheme matches the server (https:// for a TLS server)"
    return _KIND_HINTS[kind]


_KIND_HINTS = {
    FailureKind.NAME_RESOLUTION: "check the network connection and DNS",
    FailureKind.CONNECTION_REFUSED: "check the URL and port",
    FailureKind.NETWORK_UNREACHABLE: "check the network connection",
    FailureKind.CONNECT_TIMEOUT: "a firewall may drop the traffic, or a proxy may be needed "
    "(HTTPS_PROXY)",
    FailureKind.PROXY: "check the proxy settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)",
    FailureKind.TIMEOUT: "the service is slow or overloaded: retry later",
    FailureKind.CONNECTION_LOST: "the service or the network is failing: retry later",
    FailureKind.RATE_LIMITED: "the service is rate-limiting this client: retry later",
    FailureKind.SERVICE_UNAVAILABLE: "the service is failing: retry later",
    FailureKind.NOT_FOUND: "check the URL",
    FailureKind.REQUEST_REFUSED: "check the base URL: the service refused the request",
    FailureKind.TOO_LARGE: "check the base URL: it does not serve this document",
    FailureKind.BAD_URL: "use an http:// or https:// URL",
}


def join_hints(*parts: str | None) -> str | None:
    """``parts`` joined with '; ' (empty parts dropped), or None when all are empty."""
    text = "; ".join(part for part in parts if part)
    return text or None
