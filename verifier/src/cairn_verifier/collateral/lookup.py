"""The collateral lookup shared by the AMD KDS and Intel PCS clients.

Sources are tried in order: offline bundle, fresh cache entry, network (unless offline), then —
only when the caller allows it — the freshest expired copy at hand. A corrupt bundle entry is
the user's input and raises ``MalformedInputError``; a corrupt cache entry is reported and
treated as a miss; a corrupt download is fetched once more, then ``CollateralUnavailableError``.
Every failure carries a hint from :class:`Advice`, which the caller words for its own options
(``cairn verify`` and ``cairn collateral export`` offer different ways out).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, Self, TypeVar

from ..errors import CollateralUnavailableError, MalformedInputError
from ..records import Record
from ..timefmt import iso_time
from .cache import CacheEntry, CollateralCache
from .failures import CollateralNotFoundError, FailureKind, FetchError, join_hints, kind_hint

if TYPE_CHECKING:  # the bundle's models (pydantic) load only where a bundle is read or made
    from .bundle import BundleEntry, CollateralBundle
    from .http import FetchedResponse, HttpFetcher  # the client loads when a request is made

V = TypeVar("V")


class Source(StrEnum):
    """Where a piece of collateral came from."""

    BUNDLE = "bundle"
    CACHE = "cache"
    NETWORK = "network"
    STALE_CACHE = "stale-cache"


class CorruptError(Exception):
    """A stored or served document that is not what the endpoint serves."""


class Advice(Record):
    """What the user can do when a document cannot be had, worded for the command at hand.

    ``offline``: network use is off and neither the bundle nor the cache holds the document;
    ``stale``: only a copy past its expiry is at hand; ``unreachable``: the service cannot be
    reached at all (name resolution, refused connection, no route, TLS, connect time-out);
    ``unavailable``: the service answers but fails, times out or rate-limits.
    """

    offline: str
    stale: str
    unreachable: str
    unavailable: str

    __slots__ = ("offline", "stale", "unavailable", "unreachable")

    def __init__(self, offline: str, stale: str, unreachable: str, unavailable: str) -> None:
        object.__setattr__(self, "offline", offline)
        object.__setattr__(self, "stale", stale)
        object.__setattr__(self, "unreachable", unreachable)
        object.__setattr__(self, "unavailable", unavailable)

    def for_failure(self, kind: FailureKind) -> str:
        return self.unreachable if kind.unreachable else self.unavailable


class Service(Record):
    """The cache namespace of a collateral service and what to tell the user when it fails."""

    namespace: str
    component: str
    advice: Advice  # the default; callers pass their own (e.g. the CLI, per command)
    unusable_message: str  # str.format fields: url, what, label, reason
    unusable_hint: str
    rate_limit_hint: str

    __slots__ = (
        "advice",
        "component",
        "namespace",
        "rate_limit_hint",
        "unusable_hint",
        "unusable_message",
    )

    def __init__(  # noqa: PLR0917
        self,
        namespace: str,
        component: str,
        advice: Advice,
        unusable_message: str,
        unusable_hint: str,
        rate_limit_hint: str = "",
    ) -> None:
        object.__setattr__(self, "namespace", namespace)
        object.__setattr__(self, "component", component)
        object.__setattr__(self, "advice", advice)
        object.__setattr__(self, "unusable_message", unusable_message)
        object.__setattr__(self, "unusable_hint", unusable_hint)
        object.__setattr__(self, "rate_limit_hint", rate_limit_hint)


class DocumentKind(Protocol[V]):
    """How one kind of document is read from storage or a response, and stored."""

    @property
    def label(self) -> str: ...

    @property
    def not_found_hint(self) -> str: ...

    def decode(self, data: bytes) -> V:
        """The value of stored ``data``; ``CorruptError`` unless it holds a valid document."""
        ...

    def read(self, response: FetchedResponse, now: datetime) -> tuple[V, datetime | None]:
        """(value, expiry) of a served answer; ``CorruptError`` unless it is a valid document."""
        ...

    def encode(self, value: V) -> bytes:
        """The stored form of ``value`` (what ``decode`` reads back)."""
        ...


@dataclass(frozen=True)
class Found(Generic[V]):
    """A decoded document plus where it came from and how long it is valid.

    What a collateral client returns: ``Found[bytes]`` for an AMD KDS document,
    ``Found[PcsResponse]`` (body, issuer chain) for an Intel PCS answer. ``kind`` stores it.
    """

    value: V
    source: Source
    url: str
    key: str
    fetched_at: datetime
    expires_at: datetime | None
    namespace: str
    kind: DocumentKind[V] = field(compare=False, repr=False)

    @property
    def stale(self) -> bool:
        """Only a copy past its expiry was at hand (and the caller allowed it)."""
        return self.source is Source.STALE_CACHE

    def to_bundle_entry(self) -> BundleEntry:
        """The entry an offline bundle holds for this document (stored as ``kind`` stores it)."""
        from .bundle import BundleEntry

        return BundleEntry.from_cache_entry(
            CacheEntry(
                self.namespace,
                self.key,
                self.kind.encode(self.value),
                self.url,
                self.fetched_at,
                self.expires_at,
            )
        )


class FetcherOwner:
    """Holds an ``HttpFetcher``; one it created itself is closed by ``close()`` / ``with``."""

    def __init__(self, fetcher: HttpFetcher | None) -> None:
        self._fetcher = fetcher
        self._owns_fetcher = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_fetcher and self._fetcher is not None:
            self._fetcher.close()

    def _get_fetcher(self) -> HttpFetcher:
        if self._fetcher is None:
            from .http import HttpFetcher

            self._fetcher = HttpFetcher()
            self._owns_fetcher = True
        return self._fetcher


class CollateralClient(FetcherOwner):
    """Looks documents up in a bundle, the cache or the network, as ``_service`` describes."""

    _service: ClassVar[Service]

    def __init__(
        self,
        fetcher: HttpFetcher | None,
        cache: CollateralCache | None,
        *,
        offline: bool,
        bundle: CollateralBundle | None,
        clock: Callable[[], datetime],
        advice: Advice | None = None,
        bundle_label: str | None = None,
    ) -> None:
        super().__init__(fetcher)
        self.cache = cache
        self.offline = offline
        self.bundle = bundle
        self.advice = advice or self._service.advice
        self.bundle_label = bundle_label or "the collateral bundle"
        self._clock = clock

    @property
    def consults_nothing(self) -> bool:
        """Offline, without a bundle or a cache: every lookup fails, the same way each time."""
        return self.offline and self.bundle is None and self.cache is None

    def _lookup(
        self, key: str, url: str, what: str, kind: DocumentKind[V], *, allow_stale: bool
    ) -> Found[V]:
        service = self._service
        now = self._clock()
        stale: Found[V] | None = None

        if self.bundle is not None:
            entry = self.bundle.get(service.namespace, key)
            if entry is not None:
                try:
                    value = kind.decode(entry.data)
                except CorruptError as exc:
                    raise MalformedInputError(
                        f"the collateral bundle holds a corrupt {kind.label} for {key}: {exc}",
                        component=service.component,
                        hint="re-create the bundle with `cairn collateral export`",
                    ) from None
                found = found_entry(value, entry.to_cache_entry(), Source.BUNDLE, url, kind)
                if entry.is_fresh(now):
                    return found
                stale = found

        if self.cache is not None:
            cached = self.cache.get_stale(service.namespace, key)
            if cached is not None:
                try:
                    value = kind.decode(cached.data)
                except CorruptError as exc:
                    self.cache.report(f"cached {kind.label} for {key} is corrupt; ignored: {exc}")
                else:
                    found = found_entry(value, cached, Source.CACHE, url, kind)
                    if cached.is_fresh(now):
                        return found
                    if stale is None or (found.expires_at or now) > (stale.expires_at or now):
                        stale = found

        if self.offline:
            return _fallback(stale, allow_stale, self._offline_miss(url, what, stale))

        try:
            value, expires_at = self._download(url, what, kind, now)
        except CollateralUnavailableError as exc:
            return _fallback(stale, allow_stale, exc)

        if self.cache is not None:
            self.cache.put(
                service.namespace,
                key,
                kind.encode(value),
                url=url,
                fetched_at=now,
                expires_at=expires_at,
            )
        return Found(value, Source.NETWORK, url, key, now, expires_at, service.namespace, kind)

    def _offline_miss(
        self, url: str, what: str, stale: Found[V] | None
    ) -> CollateralUnavailableError:
        """The error for a document that may not be fetched and is not at hand (fresh)."""
        places = [self.bundle_label] if self.bundle is not None else []
        places += ["the cache"] if self.cache is not None else []
        if stale is not None:
            where = self.bundle_label if stale.source is Source.BUNDLE else "the cache"
            expired = iso_time(stale.expires_at) if stale.expires_at else "?"
            return CollateralUnavailableError(
                f"the only copy of {what} (in {where}) expired at {expired} (checked as of "
                f"{iso_time(self._clock())}), and offline mode forbids fetching {url}",
                component=self._service.component,
                hint=self.advice.stale,
            )
        where = f"is not in {' or '.join(places)}" if places else "was not supplied"
        return CollateralUnavailableError(
            f"{what} {where}, and offline mode forbids fetching {url}",
            component=self._service.component,
            hint=self.advice.offline,
        )

    def _download(
        self, url: str, what: str, kind: DocumentKind[V], now: datetime
    ) -> tuple[V, datetime | None]:
        """GET ``url`` and read the answer; an unusable answer is fetched once more."""
        service = self._service
        fetcher = self._get_fetcher()
        reason = ""
        for _ in range(2):
            try:
                response = fetcher.get(url, what=what)
            except CollateralNotFoundError as exc:
                exc.component = service.component
                exc.hint = kind.not_found_hint
                raise
            except FetchError as exc:
                exc.component = service.component
                exc.hint = join_hints(self._kind_hint(exc), self.advice.for_failure(exc.kind))
                raise
            try:
                return kind.read(response, now)
            except CorruptError as exc:
                reason = str(exc)
        raise CollateralUnavailableError(
            service.unusable_message.format(url=url, what=what, label=kind.label, reason=reason),
            component=service.component,
            hint=service.unusable_hint,
        )

    def _kind_hint(self, error: FetchError) -> str | None:
        """The fetcher's hint (e.g. 'retry after …'), or the service's own words for a 429."""
        if error.kind is FailureKind.RATE_LIMITED and self._service.rate_limit_hint:
            if error.hint and error.hint.startswith("retry after"):
                return error.hint
            return self._service.rate_limit_hint
        return error.hint or kind_hint(error.kind)


def found_entry(
    value: V, entry: CacheEntry, source: Source, url: str, kind: DocumentKind[V]
) -> Found[V]:
    """The lookup result of a stored entry (bundle or cache) of ``kind``."""
    return Found(
        value,
        source,
        entry.url or url,
        entry.key,
        entry.fetched_at,
        entry.expires_at,
        entry.namespace,
        kind,
    )


def _fallback(
    stale: Found[V] | None, allow_stale: bool, error: CollateralUnavailableError
) -> Found[V]:
    if stale is not None and allow_stale:
        return replace(stale, source=Source.STALE_CACHE)
    raise error
