"""The broker's store in-process, on SQLite and on the PostgreSQL server the tests start:
migrations run once and refuse a newer schema, nonces are redeemed once and say why not, the
collateral cache is shared by every store on the same database (what two replicas see), and the
audit chain links whatever appends it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from serve_helpers import fresh_database

from cairn_verifier.serve.audit import verify_chain
from cairn_verifier.serve.collateral import DatabaseCollateralCache
from cairn_verifier.serve.store import NONCE_RETENTION_MS, SCHEMA_VERSION, Store, StoreError

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return fresh_database(request.getfixturevalue("postgres"))


def test_migrations_run_once_and_a_newer_schema_is_refused(url: str) -> None:
    first, second = Store(url), Store(url)
    assert first.migrate() == second.migrate() == SCHEMA_VERSION
    assert first.transaction(
        lambda tx: tx.execute("SELECT COUNT(*) FROM cairn_schema").fetchone()
    ) == (1,)
    first.transaction(lambda tx: tx.execute("INSERT INTO cairn_schema VALUES (99, 0)"))
    with pytest.raises(StoreError, match="schema version 99"):
        second.migrate()


def test_nonces_are_redeemed_once(url: str) -> None:
    store = Store(url)
    store.migrate()
    store.issue_nonce("aa", 1000, 2000)
    assert store.redeem_nonce("aa", 1500) == "redeemed"
    assert store.redeem_nonce("aa", 1501) == "used"
    assert store.redeem_nonce("bb", 1500) == "unknown"
    store.issue_nonce("cc", 1000, 2000)
    assert store.redeem_nonce("cc", 2000) == "expired"
    assert store.purge_nonces(2001) == 2


def test_issuing_a_nonce_deletes_those_expired_over_a_day_ago(url: str) -> None:
    store = Store(url)
    store.migrate()
    store.issue_nonce("old", 0, 999)
    store.issue_nonce("recent", 0, 2000)
    store.issue_nonce("new", 1000 + NONCE_RETENTION_MS, 1500 + NONCE_RETENTION_MS)
    assert store.redeem_nonce("old", 1001 + NONCE_RETENTION_MS) == "unknown"
    assert store.redeem_nonce("recent", 1001 + NONCE_RETENTION_MS) == "expired"
    assert store.redeem_nonce("new", 1001 + NONCE_RETENTION_MS) == "redeemed"
    assert store.transaction(lambda tx: tx.one("SELECT COUNT(*) FROM nonces")) == (2,)


def test_the_collateral_cache_is_shared_through_the_database(url: str) -> None:
    one, other = Store(url), Store(url)
    one.migrate()
    DatabaseCollateralCache(one).put(
        "kds", "/vcek/v1/Genoa/abc", b"DER", url="https://kds", fetched_at=NOW,
        expires_at=NOW + timedelta(hours=1),
    )  # fmt: skip
    seen = DatabaseCollateralCache(other).get("kds", "/vcek/v1/Genoa/abc", at=NOW)
    assert seen is not None and seen.data == b"DER" and seen.url == "https://kds"
    assert (
        DatabaseCollateralCache(other).get("kds", "/vcek/v1/Genoa/abc", at=NOW + timedelta(hours=2))
        is None
    )
    assert DatabaseCollateralCache(other).get_stale("kds", "/vcek/v1/Genoa/abc") is not None
    other.cache_put("kds//vcek/v1/Genoa/bad", "not json", 0)
    broken = DatabaseCollateralCache(other)
    assert broken.get_stale("kds", "/vcek/v1/Genoa/bad") is None
    assert any("corrupt collateral cache entry" in p for p in broken.problems)


def test_every_append_extends_one_chain(url: str) -> None:
    one, other = Store(url), Store(url)
    one.migrate()
    for i, store in enumerate([one, other, one, other]):
        store.audit("release", {"i": i}, 10 + i)
    rows = one.audit_rows()
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert verify_chain(rows, one.audit_head()).ok
    assert [r.seq for r in one.audit_rows(after=2, limit=1)] == [3]
