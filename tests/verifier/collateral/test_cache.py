"""CollateralCache: freshness, stale fallback, corruption, atomic writes, confinement to root."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cairn_verifier.collateral.cache import CollateralCache, default_cache_dir

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEY = "/vcek/v1/Milan/" + "ab" * 64 + "?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68"


@pytest.fixture
def vcek(testdata: Path) -> bytes:
    return (testdata / "snp/go-sev-guest/vcek.testcer").read_bytes()


@pytest.fixture
def cache(tmp_path: Path) -> CollateralCache:
    return CollateralCache(tmp_path / "cache")


def test_default_cache_dir_prefers_absolute_xdg_cache_home(tmp_path):
    assert default_cache_dir({"XDG_CACHE_HOME": str(tmp_path), "HOME": "/h"}) == tmp_path / "cairn"
    # A relative XDG_CACHE_HOME is invalid per the XDG spec and ignored.
    assert default_cache_dir({"XDG_CACHE_HOME": "rel", "HOME": "/h"}) == Path("/h/.cache/cairn")
    assert default_cache_dir({"HOME": "/h"}) == Path("/h/.cache/cairn")


def test_cache_root_defaults_to_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert CollateralCache().root == tmp_path / "cairn"


def test_miss_then_hit_round_trips_bytes_and_metadata(cache, vcek):
    assert cache.get("kds", KEY, at=T0) is None
    cache.put("kds", KEY, vcek, url="https://kdsintf.amd.com" + KEY, fetched_at=T0, expires_at=None)
    entry = cache.get("kds", KEY, at=T0 + timedelta(days=3650))
    assert entry is not None
    assert entry.data == vcek
    assert entry.url == "https://kdsintf.amd.com" + KEY
    assert entry.fetched_at == T0
    assert entry.expires_at is None  # immutable: fresh forever
    assert (entry.namespace, entry.key) == ("kds", KEY)
    assert cache.problems == []


def test_expired_entry_is_not_fresh_but_available_as_stale(cache):
    expires = T0 + timedelta(days=1)
    cache.put("kds", "/crl", b"crl", url=None, fetched_at=T0, expires_at=expires)
    assert cache.get("kds", "/crl", at=expires - timedelta(seconds=1)) is not None
    assert cache.get("kds", "/crl", at=expires) is None
    stale = cache.get_stale("kds", "/crl")
    assert stale is not None and stale.data == b"crl" and stale.expires_at == expires


def test_times_are_normalised_to_utc_and_naive_times_refused(cache):
    plus2 = timezone(timedelta(hours=2))
    entry = cache.put("pcs", "k", b"x", url=None, fetched_at=T0.astimezone(plus2), expires_at=None)
    assert entry.fetched_at == T0 and entry.fetched_at.tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        cache.put("pcs", "k", b"x", url=None, fetched_at=datetime(2026, 1, 1), expires_at=None)


def test_namespaces_are_separate(cache):
    cache.put("kds", "k", b"amd", url=None, fetched_at=T0, expires_at=None)
    cache.put("pcs", "k", b"intel", url=None, fetched_at=T0, expires_at=None)
    assert cache.get("kds", "k", at=T0).data == b"amd"
    assert cache.get("pcs", "k", at=T0).data == b"intel"


def test_put_replaces_and_leaves_no_temporary_files(cache):
    for body in (b"one", b"two"):
        cache.put("kds", KEY, body, url=None, fetched_at=T0, expires_at=None)
    assert cache.get("kds", KEY, at=T0).data == b"two"
    files = [p.name for p in (cache.root / "kds").iterdir()]
    assert files == [cache.path_for("kds", KEY).name]


def test_file_names_are_hashes_and_stay_inside_root(cache):
    hostile = "../../../../etc/passwd\0/x"
    cache.put("kds", hostile, b"x", url=None, fetched_at=T0, expires_at=None)
    path = cache.path_for("kds", hostile)
    assert path.parent == cache.root / "kds"
    assert len(path.stem) == 64 and all(c in "0123456789abcdef" for c in path.stem)
    assert cache.get("kds", hostile, at=T0).data == b"x"
    written = [p for p in cache.root.rglob("*") if p.is_file()]
    assert written == [path]


@pytest.mark.parametrize("namespace", ["", "../x", "KDS", "a/b", ".hidden", "x" * 65])
def test_unsafe_namespaces_are_refused(cache, namespace):
    with pytest.raises(ValueError, match="namespace"):
        cache.put(namespace, "k", b"x", url=None, fetched_at=T0, expires_at=None)


def _corrupt(path: Path, how: str) -> None:
    raw = path.read_bytes()
    head, _, body = raw.partition(b"\n")
    if how == "truncated":
        path.write_bytes(raw[:-5])
    elif how == "garbage":
        path.write_bytes(b"\x00\xff not an entry")
    elif how == "body-flipped":
        path.write_bytes(head + b"\n" + bytes([body[0] ^ 1]) + body[1:])
    elif how == "bad-json":
        path.write_bytes(b"{not json\n" + body)
    elif how == "bad-time":
        meta = json.loads(head)
        meta["fetched_at"] = "yesterday"
        path.write_bytes(json.dumps(meta).encode() + b"\n" + body)
    elif how == "other-key":
        meta = json.loads(head)
        meta["key"] = "/somewhere/else"
        path.write_bytes(json.dumps(meta).encode() + b"\n" + body)
    elif how == "empty":
        path.write_bytes(b"")


@pytest.mark.parametrize(
    "how", ["truncated", "garbage", "body-flipped", "bad-json", "bad-time", "other-key", "empty"]
)
def test_corrupt_entries_are_misses_and_reported(tmp_path, vcek, how):
    reported: list[str] = []
    cache = CollateralCache(tmp_path, on_problem=reported.append)
    cache.put("kds", KEY, vcek, url=None, fetched_at=T0, expires_at=None)
    _corrupt(cache.path_for("kds", KEY), how)
    assert cache.get("kds", KEY, at=T0) is None
    assert cache.get_stale("kds", KEY) is None
    assert len(cache.problems) == 2
    assert reported == cache.problems
    assert str(cache.path_for("kds", KEY)) in reported[0]
    # A fresh put repairs the entry.
    cache.put("kds", KEY, vcek, url=None, fetched_at=T0, expires_at=None)
    assert cache.get("kds", KEY, at=T0).data == vcek


def test_unwritable_cache_reports_instead_of_failing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    cache = CollateralCache(blocker)  # root is a regular file: nothing can be written below it
    entry = cache.put("kds", "k", b"x", url=None, fetched_at=T0, expires_at=None)
    assert entry.data == b"x"
    assert len(cache.problems) == 1 and "cannot write cache entry" in cache.problems[0]
    assert cache.get("kds", "k", at=T0) is None


def test_entries_lists_intact_entries_only(cache):
    cache.put("kds", "a", b"1", url=None, fetched_at=T0, expires_at=None)
    cache.put("kds", "b", b"2", url=None, fetched_at=T0, expires_at=T0)
    cache.put("pcs", "c", b"3", url=None, fetched_at=T0, expires_at=None)
    cache.path_for("kds", "b").write_bytes(b"junk")
    assert {(e.namespace, e.key) for e in cache.entries()} == {("kds", "a"), ("pcs", "c")}
    assert [e.key for e in cache.entries("pcs")] == ["c"]
    assert len(cache.problems) == 1


def test_concurrent_writers_and_readers_never_see_a_torn_entry(cache):
    bodies = [bytes([n]) * (4096 + n) for n in range(4)]
    errors: list[str] = []
    stop = threading.Event()

    def writer(body: bytes) -> None:
        for _ in range(15):
            cache.put("kds", KEY, body, url=None, fetched_at=T0, expires_at=None)

    def reader() -> None:
        while not stop.is_set():
            entry = cache.get("kds", KEY, at=T0)
            if entry is not None and entry.data not in bodies:
                errors.append("torn read")

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(b,)) for b in bodies]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert cache.problems == []
    assert cache.get("kds", KEY, at=T0).data in bodies
