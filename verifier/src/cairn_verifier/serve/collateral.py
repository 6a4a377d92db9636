"""The collateral cache shared by every replica: the verifier's :class:`CollateralCache`
interface (``get``, ``get_stale``, ``put``), kept in the broker's database instead of files, so a
VCEK, CRL or TCB info one replica fetched serves them all. A corrupt or unreachable entry is
reported and treated as missing (the document is fetched again), as the file cache does."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ..collateral.cache import CacheEntry, CollateralCache, as_utc, check_namespace
from .store import DatabaseUnavailableError, Store


def _encode(entry: CacheEntry) -> str:
    return json.dumps(
        {
            "namespace": entry.namespace,
            "key": entry.key,
            "data": base64.b64encode(entry.data).decode("ascii"),
            "url": entry.url,
            "fetched_at": entry.fetched_at.isoformat(),
            "expires_at": None if entry.expires_at is None else entry.expires_at.isoformat(),
        },
        sort_keys=True,
    )


def _decode(text: str) -> CacheEntry:
    document: dict[str, Any] = json.loads(text)
    expires = document["expires_at"]
    return CacheEntry(
        namespace=str(document["namespace"]),
        key=str(document["key"]),
        data=base64.b64decode(document["data"], validate=True),
        url=document["url"],
        fetched_at=as_utc(datetime.fromisoformat(document["fetched_at"]), "fetched_at"),
        expires_at=None
        if expires is None
        else as_utc(datetime.fromisoformat(expires), "expires_at"),
    )


class DatabaseCollateralCache(CollateralCache):
    """Collateral entries in the ``collateral_cache`` table, keyed ``namespace/key``."""

    def __init__(self, store: Store):
        super().__init__()
        self.store = store

    def get_stale(self, namespace: str, key: str) -> CacheEntry | None:
        cache_key = f"{check_namespace(namespace)}/{key}"
        try:
            text = self.store.cache_get(cache_key)
        except DatabaseUnavailableError as exc:
            self.report(f"collateral cache unavailable: {exc}")
            return None
        if text is None:
            return None
        try:
            entry = _decode(text)
        except (ValueError, KeyError, TypeError) as exc:
            self.report(f"corrupt collateral cache entry {cache_key} ignored: {exc}")
            return None
        if (entry.namespace, entry.key) != (namespace, key):
            self.report(f"collateral cache entry {cache_key} holds another key; ignored")
            return None
        return entry

    def put_entry(self, entry: CacheEntry) -> None:
        try:
            self.store.cache_put(
                f"{entry.namespace}/{entry.key}",
                _encode(entry),
                int(entry.fetched_at.timestamp() * 1000),
            )
        except DatabaseUnavailableError as exc:
            self.report(f"cannot store collateral in the database: {exc}")

    def entries(self, namespace: str | None = None) -> Iterator[CacheEntry]:
        return iter(())
