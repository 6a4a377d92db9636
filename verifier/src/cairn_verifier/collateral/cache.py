"""An on-disk collateral cache safe for concurrent processes.

Each entry is one file ``<root>/<namespace>/<sha256(namespace, key)>.entry``: a JSON metadata
line (namespace, key, source URL, fetched_at, expires_at, size and SHA-256 of the body), a
newline, then the body bytes. Entries are written to a temporary file in the same directory and
renamed into place, so a reader sees either the old or the new entry, never a mix. An entry that
cannot be read back intact is a miss, and is reported (``problems``, the ``cairn.collateral``
logger and the optional ``on_problem`` callback). A cache that cannot be written never fails a
verification: the write is skipped and reported.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..documents import parse_json
from ..errors import MalformedInputError
from ..input_files import MAX_INPUT_BYTES, InputTooLargeError, read_bounded
from ..records import Record

LOGGER = "cairn.collateral"
"""The logger problems are reported to (looked up when there is one: logging loads then)."""

ENTRY_FORMAT = "cairn-cache-entry"
ENTRY_VERSION = 1
ENTRY_SUFFIX = ".entry"
MAX_METADATA_BYTES = 64 * 1024
MAX_ENTRY_BYTES = MAX_METADATA_BYTES + 1 + MAX_INPUT_BYTES
"""An entry is read at most this far (metadata line, newline, a body of at most an input)."""
_NAMESPACE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/cairn`` when that is an absolute path, else ``~/.cache/cairn``."""
    env = os.environ if environ is None else environ
    xdg = env.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "cairn"
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".cache" / "cairn"


def check_namespace(namespace: str) -> str:
    """Return ``namespace`` if it is a safe directory name (``[a-z0-9][a-z0-9_-]*``)."""
    if not _NAMESPACE.fullmatch(namespace):
        raise ValueError(f"invalid collateral namespace {namespace!r}")
    return namespace


def as_utc(moment: datetime, what: str) -> datetime:
    """``moment`` in UTC; naive datetimes are refused (they would compare wrongly)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return moment.astimezone(UTC)


class CacheEntry(Record):
    """One cached document. ``expires_at`` None means immutable (never stale)."""

    namespace: str
    key: str
    data: bytes
    url: str | None
    fetched_at: datetime
    expires_at: datetime | None

    __slots__ = ("data", "expires_at", "fetched_at", "key", "namespace", "url")

    def __init__(  # noqa: PLR0917
        self,
        namespace: str,
        key: str,
        data: bytes,
        url: str | None,
        fetched_at: datetime,
        expires_at: datetime | None,
    ) -> None:
        object.__setattr__(self, "namespace", namespace)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "url", url)
        object.__setattr__(self, "fetched_at", fetched_at)
        object.__setattr__(self, "expires_at", expires_at)

    def is_fresh(self, at: datetime) -> bool:
        return self.expires_at is None or as_utc(at, "at") < self.expires_at


def _entry_name(namespace: str, key: str) -> str:
    digest = hashlib.sha256(namespace.encode() + b"\0" + key.encode("utf-8", "surrogatepass"))
    return digest.hexdigest() + ENTRY_SUFFIX


class _CorruptEntryError(Exception):
    pass


def _parse_time(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise _CorruptEntryError(f"{what} is not a string")
    try:
        return as_utc(datetime.fromisoformat(value), what)
    except ValueError as exc:
        raise _CorruptEntryError(f"{what}: {exc}") from None


def _decode_entry(raw: bytes) -> CacheEntry:
    head, sep, body = raw.partition(b"\n")
    if not sep or len(head) > MAX_METADATA_BYTES:
        raise _CorruptEntryError("no metadata line")
    try:
        meta = parse_json(head, "metadata")
    except MalformedInputError as exc:
        raise _CorruptEntryError(exc.message) from None
    if not isinstance(meta, dict):
        raise _CorruptEntryError("metadata is not a JSON object")
    if meta.get("format") != ENTRY_FORMAT or meta.get("version") != ENTRY_VERSION:
        raise _CorruptEntryError("unknown entry format or version")
    namespace, key, url = meta.get("namespace"), meta.get("key"), meta.get("url")
    if not isinstance(namespace, str) or not isinstance(key, str):
        raise _CorruptEntryError("namespace or key missing")
    if url is not None and not isinstance(url, str):
        raise _CorruptEntryError("url is not a string")
    if meta.get("size") != len(body):
        raise _CorruptEntryError(f"body is {len(body)} bytes, metadata says {meta.get('size')}")
    if meta.get("sha256") != hashlib.sha256(body).hexdigest():
        raise _CorruptEntryError("body does not match its SHA-256")
    expires = meta.get("expires_at")
    return CacheEntry(
        namespace=namespace,
        key=key,
        data=body,
        url=url,
        fetched_at=_parse_time(meta.get("fetched_at"), "fetched_at"),
        expires_at=None if expires is None else _parse_time(expires, "expires_at"),
    )


def _encode_entry(entry: CacheEntry) -> bytes:
    meta = {
        "format": ENTRY_FORMAT,
        "version": ENTRY_VERSION,
        "namespace": entry.namespace,
        "key": entry.key,
        "url": entry.url,
        "fetched_at": entry.fetched_at.isoformat(),
        "expires_at": None if entry.expires_at is None else entry.expires_at.isoformat(),
        "size": len(entry.data),
        "sha256": hashlib.sha256(entry.data).hexdigest(),
    }
    return json.dumps(meta, separators=(",", ":")).encode() + b"\n" + entry.data


class CollateralCache:
    """Collateral documents keyed by ``(namespace, key)``, e.g. ``("kds", "/vcek/v1/Milan/…")``."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        on_problem: Callable[[str], None] | None = None,
    ):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.problems: list[str] = []
        self._on_problem = on_problem

    def path_for(self, namespace: str, key: str) -> Path:
        """The file that holds the entry (inside ``root`` by construction)."""
        return self.root / check_namespace(namespace) / _entry_name(namespace, key)

    def get(self, namespace: str, key: str, *, at: datetime) -> CacheEntry | None:
        """The entry if present, intact and fresh at ``at``; otherwise None."""
        entry = self.get_stale(namespace, key)
        if entry is None or not entry.is_fresh(at):
            return None
        return entry

    def get_stale(self, namespace: str, key: str) -> CacheEntry | None:
        """The entry if present and intact, however old (for outage fallback)."""
        path = self.path_for(namespace, key)
        try:
            raw = read_bounded(path, MAX_ENTRY_BYTES)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self.report(f"cannot read cache entry {path}: {exc}")
            return None
        except InputTooLargeError:
            self.report(f"cache entry {path} is larger than {MAX_ENTRY_BYTES} bytes; ignored")
            return None
        try:
            entry = _decode_entry(raw)
        except _CorruptEntryError as exc:
            self.report(f"corrupt cache entry {path} ignored: {exc}")
            return None
        if (entry.namespace, entry.key) != (namespace, key):
            self.report(f"cache entry {path} holds another key; ignored")
            return None
        return entry

    def put(
        self,
        namespace: str,
        key: str,
        data: bytes,
        *,
        url: str | None,
        fetched_at: datetime,
        expires_at: datetime | None,
    ) -> CacheEntry:
        """Store (or replace) an entry atomically and return it."""
        entry = CacheEntry(
            namespace=check_namespace(namespace),
            key=key,
            data=bytes(data),
            url=url,
            fetched_at=as_utc(fetched_at, "fetched_at"),
            expires_at=None if expires_at is None else as_utc(expires_at, "expires_at"),
        )
        self.put_entry(entry)
        return entry

    def put_entry(self, entry: CacheEntry) -> None:
        """Store ``entry`` atomically; a failure to write is reported, never raised."""
        path = self.path_for(entry.namespace, entry.key)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            import tempfile  # here: an offline run that writes nothing never loads it (shutil)

            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=ENTRY_SUFFIX, dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(_encode_entry(entry))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            tmp = None
        except OSError as exc:
            self.report(f"cannot write cache entry {path}: {exc}")
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def entries(self, namespace: str | None = None) -> Iterator[CacheEntry]:
        """Every intact entry (of one namespace, or all), in file-name order."""
        spaces = [check_namespace(namespace)] if namespace is not None else None
        if spaces is None:
            try:
                spaces = sorted(p.name for p in self.root.iterdir() if p.is_dir())
            except OSError:
                return
        for space in spaces:
            if not _NAMESPACE.fullmatch(space):
                continue
            try:
                files = sorted((self.root / space).glob("[0-9a-f]*" + ENTRY_SUFFIX))
            except OSError:
                continue
            for file in files:
                try:
                    entry = _decode_entry(read_bounded(file, MAX_ENTRY_BYTES))
                except (OSError, InputTooLargeError, _CorruptEntryError) as exc:
                    self.report(f"corrupt cache entry {file} ignored: {exc}")
                    continue
                if (
                    file.name == _entry_name(entry.namespace, entry.key)
                    and entry.namespace == space
                ):
                    yield entry

    def report(self, message: str) -> None:
        """Record a problem with the cache (it is also logged and passed to ``on_problem``)."""
        self.problems.append(message)
        import logging

        logging.getLogger(LOGGER).warning("%s", message)
        if self._on_problem is not None:
            self._on_problem(message)
