"""Offline collateral bundles: export/load round trip, overwrite refusal, schema errors."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn_verifier.collateral.bundle import (
    BundleEntry,
    CollateralBundle,
    export_bundle,
    import_bundle,
    load_bundle,
    parse_bundle,
)
from cairn_verifier.collateral.cache import CollateralCache
from cairn_verifier.errors import ExitCode, MalformedInputError, UsageError

T0 = datetime(2026, 2, 1, 8, 30, tzinfo=UTC)


@pytest.fixture
def entries(testdata: Path) -> list[BundleEntry]:
    snp = testdata / "snp/go-sev-guest"
    return [
        BundleEntry(
            namespace="kds",
            key="/vcek/v1/Milan/abc?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68",
            url="https://kdsintf.amd.com/vcek/v1/Milan/abc?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68",
            fetched_at=T0,
            expires_at=None,
            data_b64=base64.b64encode((snp / "vcek.testcer").read_bytes()).decode(),
        ),
        BundleEntry(
            namespace="kds",
            key="/vcek/v1/Milan/cert_chain",
            url=None,
            fetched_at=T0,
            expires_at=T0 + timedelta(days=30),
            data_b64=base64.b64encode((snp / "milan.testcer").read_bytes()).decode(),
        ),
    ]


def _document(entries: list[BundleEntry]) -> dict:
    return json.loads(CollateralBundle(created_at=T0, entries=entries).model_dump_json())


def test_export_load_round_trip(tmp_path, entries, testdata):
    path = tmp_path / "bundle.json"
    written = export_bundle(entries, path, created_at=T0)
    loaded = load_bundle(path)
    assert loaded == written
    assert loaded.created_at == T0
    doc = json.loads(path.read_text())
    assert doc["format"] == "cairn-collateral-bundle" and doc["version"] == 1
    assert [e["key"] for e in doc["entries"]] == [e.key for e in entries]
    vcek = loaded.get("kds", entries[0].key)
    assert vcek is not None
    assert vcek.data == (testdata / "snp/go-sev-guest/vcek.testcer").read_bytes()
    assert vcek.expires_at is None
    assert loaded.get("kds", "/nope") is None
    assert loaded.get("pcs", entries[0].key) is None


def test_import_into_cache(tmp_path, entries):
    bundle = export_bundle(entries, tmp_path / "b.json")
    cache = CollateralCache(tmp_path / "cache")
    assert import_bundle(bundle, cache) == 2
    chain = cache.get("kds", "/vcek/v1/Milan/cert_chain", at=T0)
    assert chain is not None and chain.data == entries[1].data
    assert chain.expires_at == T0 + timedelta(days=30)
    assert cache.get("kds", "/vcek/v1/Milan/cert_chain", at=T0 + timedelta(days=31)) is None


def test_export_refuses_to_overwrite(tmp_path, entries):
    path = tmp_path / "bundle.json"
    path.write_text("precious")
    with pytest.raises(UsageError) as info:
        export_bundle(entries, path)
    assert "already exists" in info.value.message and info.value.hint
    assert path.read_text() == "precious"
    export_bundle(entries, path, overwrite=True)
    assert load_bundle(path).entries == entries
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.json"]


def test_export_into_missing_directory_is_a_typed_error(tmp_path, entries):
    with pytest.raises(UsageError, match="cannot write collateral bundle"):
        export_bundle(entries, tmp_path / "missing" / "b.json")


def test_later_duplicate_wins_on_export(tmp_path, entries):
    newer = entries[1].model_copy(update={"fetched_at": T0 + timedelta(hours=1)})
    bundle = export_bundle([*entries, newer], tmp_path / "b.json")
    assert len(bundle.entries) == 2
    assert bundle.get("kds", newer.key).fetched_at == T0 + timedelta(hours=1)


def _mutations():
    def set_(path, value):
        def apply(doc):
            target = doc
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
            return doc

        return apply

    return {
        "format": (set_(["format"], "something-else"), "format"),
        "version": (set_(["version"], 2), "version"),
        "naive-time": (set_(["entries", 0, "fetched_at"], "2026-01-01T00:00:00"), "fetched_at"),
        "bad-base64": (set_(["entries", 0, "data_b64"], "not base64!"), "data_b64"),
        "bad-namespace": (set_(["entries", 0, "namespace"], "../etc"), "namespace"),
        "empty-key": (set_(["entries", 0, "key"], ""), "key"),
        "extra-field": (set_(["entries", 0, "surprise"], 1), "surprise"),
        "missing-entries": (lambda d: {k: v for k, v in d.items() if k != "entries"}, "entries"),
        "duplicate": (lambda d: {**d, "entries": d["entries"] + d["entries"][:1]}, "duplicate"),
        # Strict types (issue 11 item 3): nothing is coerced.
        "version-true": (set_(["version"], True), "version"),
        "expiry-as-number": (set_(["entries", 0, "expires_at"], 1893456000), "expires_at"),
        "fetched-as-number": (set_(["entries", 0, "fetched_at"], 1767225600), "fetched_at"),
        "key-as-number": (set_(["entries", 0, "key"], 7), "key"),
        "entries-as-object": (set_(["entries"], {}), "entries"),
    }


def test_a_member_given_twice_is_malformed_input(tmp_path, entries):
    """JSON parsers keep the last of two equal keys; a bundle must not depend on that."""
    text = json.dumps(_document(entries))
    path = tmp_path / "bundle.json"
    path.write_text(text.replace('"version": 1', '"version": 1, "version": 1', 1))
    with pytest.raises(MalformedInputError, match="duplicate member 'version'"):
        load_bundle(path)


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_schema_violations_are_malformed_input(tmp_path, entries, name):
    mutate, mentioned = _mutations()[name]
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(mutate(_document(entries))))
    with pytest.raises(MalformedInputError) as info:
        load_bundle(path)
    assert info.value.exit_code is ExitCode.MALFORMED_INPUT
    assert str(path) in info.value.message
    assert mentioned in info.value.message
    assert info.value.hint and "cairn collateral export" in info.value.hint


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff\xfe", b"[]", b"null", b'"bundle"'])
def test_non_bundle_documents_are_malformed_input(tmp_path, raw):
    path = tmp_path / "b.json"
    path.write_bytes(raw)
    with pytest.raises(MalformedInputError, match="not a valid Cairn collateral bundle"):
        load_bundle(path)


def test_missing_file_is_malformed_input(tmp_path):
    with pytest.raises(MalformedInputError, match="cannot read collateral bundle"):
        load_bundle(tmp_path / "absent.json")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_other_errors(raw):
    _parses_or_is_malformed(raw)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=4,
)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(BundleEntry.model_fields)), _JSON))
def test_arbitrary_entry_objects_never_escape_as_other_errors(entry):
    doc = {"format": "cairn-collateral-bundle", "version": 1, "created_at": T0.isoformat()}
    _parses_or_is_malformed(json.dumps({**doc, "entries": [entry]}).encode())


def _parses_or_is_malformed(raw: bytes) -> None:
    try:
        bundle = parse_bundle(raw)
    except MalformedInputError as exc:
        assert exc.exit_code is ExitCode.MALFORMED_INPUT
        assert "not a valid Cairn collateral bundle" in exc.message
    else:
        assert isinstance(bundle, CollateralBundle)
        for entry in bundle.entries:
            assert isinstance(entry.data, bytes)


def test_bundle_times_are_whole_utc_seconds(tmp_path, entries):
    """Item 20 of issue 10: every time Cairn writes is UTC, whole seconds, ``Z``."""
    path = tmp_path / "b.json"
    export_bundle(entries, path, created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
    doc = json.loads(path.read_text())
    assert doc["created_at"] == "2026-01-02T03:04:05Z"
    times = [e[k] for e in doc["entries"] for k in ("fetched_at", "expires_at") if e.get(k)]
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t) for t in times)
