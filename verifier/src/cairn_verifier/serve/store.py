"""The broker's state in SQLite (one broker) or PostgreSQL (replicas sharing one database).

One schema for both (TEXT and BIGINT columns only, so the DDL is the same text), created and
upgraded by numbered migrations under a lock (PostgreSQL: an advisory transaction lock; SQLite:
``BEGIN IMMEDIATE``), so replicas starting together migrate once. Everything a replica must agree
on is here and nowhere else: nonces (single use, atomically redeemed), resources, the redemptions
of attestation results, the audit log and its head, and the shared collateral cache. Calls are
blocking; the application runs them in worker threads. A database that cannot be reached raises
:class:`DatabaseUnavailableError`, which the API answers with 503 and Retry-After.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from .audit import GENESIS, AuditRow, entry_hash

T = TypeVar("T")
Redeemed = Literal["redeemed", "unknown", "expired", "used"]
MIGRATION_LOCK = 0x636169726E  # "cairn": the advisory lock id replicas migrate under

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE nonces (
                nonce TEXT PRIMARY KEY,
                issued_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                redeemed_at BIGINT
            )""",
            "CREATE INDEX nonces_expires_at ON nonces (expires_at)",
            """CREATE TABLE resources (
                name TEXT PRIMARY KEY,
                secret TEXT NOT NULL,
                policy TEXT NOT NULL,
                updated_at BIGINT NOT NULL
            )""",
            """CREATE TABLE redemptions (
                token_id TEXT NOT NULL,
                resource TEXT NOT NULL,
                redeemed_at BIGINT NOT NULL,
                PRIMARY KEY (token_id, resource)
            )""",
            """CREATE TABLE audit_log (
                seq BIGINT PRIMARY KEY,
                at BIGINT NOT NULL,
                event TEXT NOT NULL,
                detail TEXT NOT NULL,
                prev_hash TEXT NOT NULL,
                hash TEXT NOT NULL
            )""",
            """CREATE TABLE audit_head (
                id BIGINT PRIMARY KEY,
                seq BIGINT NOT NULL,
                hash TEXT NOT NULL
            )""",
            f"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')",
            """CREATE TABLE collateral_cache (
                cache_key TEXT PRIMARY KEY,
                entry TEXT NOT NULL,
                stored_at BIGINT NOT NULL
            )""",
        ),
    ),
)
"""Numbered migrations; a release only ever appends to this list."""
SCHEMA_VERSION = MIGRATIONS[-1][0]
NONCE_RETENTION_MS = 24 * 3600 * 1000
"""How long after its expiry a nonce is kept (to tell a late or replayed nonce from an unknown
one) before issuing a challenge deletes it."""


class DatabaseUnavailableError(Exception):
    """The database cannot be reached or refused the operation (the API answers 503)."""


class StoreError(Exception):
    """The database holds something this broker cannot use (a newer schema, a bad URL)."""


@dataclass(frozen=True)
class Resource:
    name: str
    secret: str
    """Base64 (standard, padded) of the secret's bytes."""
    policy: str
    """The resource policy as JSON text (``resources.ResourcePolicy``)."""
    updated_at: int


class _Dialect:
    """What differs between the two databases: connecting, placeholders, locks, errors."""

    name: str
    lock_suffix = ""
    unavailable: tuple[type[BaseException], ...]
    integrity: tuple[type[BaseException], ...]

    def connect(self) -> Any:
        raise NotImplementedError

    def sql(self, text: str) -> str:
        return text

    def begin(self, conn: Any) -> None:
        raise NotImplementedError

    def commit(self, conn: Any) -> None:
        conn.execute("COMMIT")

    def rollback(self, conn: Any) -> None:
        conn.execute("ROLLBACK")

    def migration_lock(self, conn: Any) -> None:
        """Serialise migrations (called first thing in the migration transaction)."""


class _Sqlite(_Dialect):
    name = "sqlite"

    def __init__(self, path: Path):
        self.path = path
        self.unavailable = (sqlite3.OperationalError, sqlite3.DatabaseError)
        self.integrity = (sqlite3.IntegrityError,)

    def connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
        except sqlite3.Error as exc:
            raise DatabaseUnavailableError(f"cannot open {self.path}: {exc}") from exc
        return conn

    def begin(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")  # one writer at a time: the audit chain stays linear


class _Postgres(_Dialect):
    name = "postgresql"
    lock_suffix = " FOR UPDATE"

    def __init__(self, url: str):
        psycopg: Any = importlib.import_module("psycopg")  # only when PostgreSQL is configured
        self.url = url
        self._psycopg = psycopg
        self.unavailable = (psycopg.OperationalError, psycopg.InterfaceError)
        self.integrity = (psycopg.errors.UniqueViolation,)

    def connect(self) -> Any:
        try:
            return self._psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        except self._psycopg.Error as exc:
            raise DatabaseUnavailableError(f"cannot connect to PostgreSQL: {exc}") from exc

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")

    def begin(self, conn: Any) -> None:
        conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")

    def migration_lock(self, conn: Any) -> None:
        conn.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")


def _dialect(url: str) -> _Dialect:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = parts.path if not parts.netloc else f"/{parts.netloc}{parts.path}"
        if not path or path == "/":
            raise StoreError(
                f"{url!r}: name the database file, e.g. sqlite:///var/lib/cairn/serve.db"
            )
        return _Sqlite(Path(path))
    if parts.scheme in ("postgresql", "postgres"):
        return _Postgres(url)
    raise StoreError(f"database URL {url[:60]!r}: use sqlite:///PATH or postgresql://…")


class Tx:
    """One open transaction: ``execute`` and the audit append that must share it."""

    def __init__(self, store: Store, conn: Any):
        self._store = store
        self._conn = conn

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self._conn.execute(self._store.dialect.sql(sql), params)

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.execute(sql, params).fetchone()

    def audit(self, event: str, detail: dict[str, Any], at: int) -> int:
        """Append one entry to the chain (the head row is locked until commit); its seq."""
        head = self.one(
            "SELECT seq, hash FROM audit_head WHERE id = 1" + self._store.dialect.lock_suffix
        )
        if head is None:
            raise StoreError(
                "the audit log has no head row: the database was not made by cairn serve"
            )
        seq = int(head[0]) + 1
        detail_text = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        row = AuditRow(seq, at, event, detail_text, str(head[1]), "")
        digest = entry_hash(row.prev_hash, row.record())
        self.execute(
            "INSERT INTO audit_log (seq, at, event, detail, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (seq, at, event, detail_text, row.prev_hash, digest),
        )
        self.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, digest))
        return seq


class Store:
    """A pool of connections to one database and the broker's operations on it."""

    def __init__(self, url: str, *, pool_size: int = 4):
        self.url = url
        self.dialect = _dialect(url)
        self._pool: queue.LifoQueue[Any] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)

    @property
    def kind(self) -> str:
        return self.dialect.name

    def close(self) -> None:
        while True:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                return
            with suppress(Exception):
                conn.close()

    # --- connections and transactions ---------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        with self._slots:
            try:
                conn = self._pool.get_nowait()
            except queue.Empty:
                conn = self.dialect.connect()
            healthy = False
            try:
                yield conn
                healthy = True
            finally:
                if healthy:
                    self._pool.put(conn)
                else:
                    with suppress(Exception):
                        conn.close()

    def transaction(self, work: Callable[[Tx], T], *, migrating: bool = False) -> T:
        """Run ``work`` in one transaction (committed, or rolled back on any error)."""
        dialect = self.dialect
        try:
            with self._connection() as conn:
                dialect.begin(conn)
                try:
                    if migrating:
                        dialect.migration_lock(conn)
                    result = work(Tx(self, conn))
                    dialect.commit(conn)
                except BaseException:
                    with suppress(Exception):
                        dialect.rollback(conn)
                    raise
                return result
        except dialect.integrity:
            raise
        except dialect.unavailable as exc:
            raise DatabaseUnavailableError(f"{dialect.name}: {exc}".strip()) from exc

    # --- schema ----------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Create or upgrade the schema; the version now in force."""

        def work(tx: Tx) -> int:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS cairn_schema "
                "(version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)"
            )
            row = tx.one("SELECT MAX(version) FROM cairn_schema")
            current = int(row[0]) if row and row[0] is not None else 0
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"the database has schema version {current}; this cairn knows up to "
                    f"{SCHEMA_VERSION}: upgrade cairn on every replica first"
                )
            for version, statements in MIGRATIONS:
                if version > current:
                    for statement in statements:
                        tx.execute(statement)
                    tx.execute(
                        "INSERT INTO cairn_schema (version, applied_at) VALUES (?, ?)",
                        (version, _now_ms()),
                    )
            return SCHEMA_VERSION

        return self.transaction(work, migrating=True)

    def schema_version(self) -> int:
        row = self.transaction(lambda tx: tx.one("SELECT MAX(version) FROM cairn_schema"))
        return int(row[0]) if row and row[0] is not None else 0

    # --- nonces -----------------------------------------------------------------------------------

    def issue_nonce(self, nonce: str, issued_at: int, expires_at: int) -> None:
        """Store a new nonce; in the same transaction, delete the nonces that expired more than
        :data:`NONCE_RETENTION_MS` before ``issued_at`` (so the table holds about a day of
        challenges, and a nonce that expired recently is still answered as expired or used)."""

        def work(tx: Tx) -> None:
            tx.execute("DELETE FROM nonces WHERE expires_at < ?", (issued_at - NONCE_RETENTION_MS,))
            tx.execute(
                "INSERT INTO nonces (nonce, issued_at, expires_at) VALUES (?, ?, ?)",
                (nonce, issued_at, expires_at),
            )

        self.transaction(work)

    def redeem_nonce(self, nonce: str, at: int) -> Redeemed:
        """Mark ``nonce`` used, once; otherwise say why not (unknown, expired, used)."""

        def work(tx: Tx) -> Redeemed:
            cursor = tx.execute(
                "UPDATE nonces SET redeemed_at = ? "
                "WHERE nonce = ? AND redeemed_at IS NULL AND expires_at > ?",
                (at, nonce, at),
            )
            if cursor.rowcount == 1:
                return "redeemed"
            row = tx.one("SELECT expires_at, redeemed_at FROM nonces WHERE nonce = ?", (nonce,))
            if row is None:
                return "unknown"
            return "used" if row[1] is not None else "expired"

        return self.transaction(work)

    def purge_nonces(self, before: int) -> int:
        """Delete nonces that expired before ``before`` (redeemed or not); how many."""
        return int(
            self.transaction(
                lambda tx: tx.execute("DELETE FROM nonces WHERE expires_at < ?", (before,)).rowcount
            )
        )

    # --- resources --------------------------------------------------------------------------------

    def put_resource(self, resource: Resource, audit: dict[str, Any]) -> None:
        def work(tx: Tx) -> None:
            tx.execute("DELETE FROM resources WHERE name = ?", (resource.name,))
            tx.execute(
                "INSERT INTO resources (name, secret, policy, updated_at) VALUES (?, ?, ?, ?)",
                (resource.name, resource.secret, resource.policy, resource.updated_at),
            )
            tx.audit("resource-put", audit, resource.updated_at)

        self.transaction(work)

    def delete_resource(self, name: str, audit: dict[str, Any], at: int) -> bool:
        def work(tx: Tx) -> bool:
            gone = tx.execute("DELETE FROM resources WHERE name = ?", (name,)).rowcount == 1
            if gone:
                tx.audit("resource-delete", audit, at)
            return bool(gone)

        return bool(self.transaction(work))

    def resource(self, name: str) -> Resource | None:
        row = self.transaction(
            lambda tx: tx.one(
                "SELECT name, secret, policy, updated_at FROM resources WHERE name = ?", (name,)
            )
        )
        return None if row is None else Resource(str(row[0]), str(row[1]), str(row[2]), int(row[3]))

    def resources(self) -> list[Resource]:
        rows = self.transaction(
            lambda tx: tx.execute(
                "SELECT name, secret, policy, updated_at FROM resources ORDER BY name"
            ).fetchall()
        )
        return [Resource(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    # --- releases and the audit log ---------------------------------------------------------------

    def release(self, token_id: str, resource: str, at: int, audit: dict[str, Any]) -> bool:
        """Record that the result ``token_id`` redeemed ``resource`` and audit it, atomically;
        False (and nothing recorded but the refusal's audit entry) when it already did."""

        def work(tx: Tx) -> bool:
            done = tx.one(
                "SELECT redeemed_at FROM redemptions WHERE token_id = ? AND resource = ?",
                (token_id, resource),
            )
            if done is not None:
                return False
            tx.execute(
                "INSERT INTO redemptions (token_id, resource, redeemed_at) VALUES (?, ?, ?)",
                (token_id, resource, at),
            )
            tx.audit("release", audit, at)
            return True

        try:
            return self.transaction(work)
        except self.dialect.integrity:  # a concurrent replica redeemed it first
            return False

    def audit(self, event: str, detail: dict[str, Any], at: int) -> int:
        return self.transaction(lambda tx: tx.audit(event, detail, at))

    def audit_head(self) -> tuple[int, str]:
        row = self.transaction(lambda tx: tx.one("SELECT seq, hash FROM audit_head WHERE id = 1"))
        if row is None:
            raise StoreError("the audit log has no head row")
        return int(row[0]), str(row[1])

    def audit_rows(self, after: int = 0, limit: int | None = None) -> list[AuditRow]:
        sql = (
            "SELECT seq, at, event, detail, prev_hash, hash FROM audit_log WHERE seq > ? "
            "ORDER BY seq"
        )
        params: tuple[Any, ...] = (after,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (after, limit)
        rows = self.transaction(lambda tx: tx.execute(sql, params).fetchall())
        return [
            AuditRow(int(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5])) for r in rows
        ]

    # --- the shared collateral cache --------------------------------------------------------------

    def cache_get(self, key: str) -> str | None:
        row = self.transaction(
            lambda tx: tx.one("SELECT entry FROM collateral_cache WHERE cache_key = ?", (key,))
        )
        return None if row is None else str(row[0])

    def cache_put(self, key: str, entry: str, at: int) -> None:
        def work(tx: Tx) -> None:
            tx.execute("DELETE FROM collateral_cache WHERE cache_key = ?", (key,))
            tx.execute(
                "INSERT INTO collateral_cache (cache_key, entry, stored_at) VALUES (?, ?, ?)",
                (key, entry, at),
            )

        with contextlib.suppress(*self.dialect.integrity):  # another replica stored it meanwhile
            self.transaction(work)


def _now_ms() -> int:
    return int(time.time() * 1000)
