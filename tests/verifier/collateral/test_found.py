"""One result for every collateral client (``collateral.lookup.Found``): the AMD KDS client
returns ``Found[bytes]``, the Intel PCS client a ``Found`` of (body, issuer chain), and each
becomes a bundle entry through its document kind's ``encode`` — the entry a later offline lookup
reads back as the same value, from whichever source (network, cache, bundle) it was found in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fakes.http_server import RecordedServer, Reply
from fakes.pcs import TCB_PATH, load_qvl_pcs_set, serve_pcs

from cairn_verifier.collateral.bundle import build_bundle
from cairn_verifier.collateral.cache import CollateralCache
from cairn_verifier.collateral.http import HttpFetcher
from cairn_verifier.collateral.lookup import Found, Source
from cairn_verifier.snp.kds import KdsClient
from cairn_verifier.tdx.pcs import PcsClient, PcsResponse, decode_envelope

pytest_plugins = ["fakes.fixtures"]

NOW = datetime(2025, 6, 20, tzinfo=UTC)
FMSPC = bytes.fromhex("B0C06F000000")
CHAIN_PATH = "/vcek/v1/Milan/cert_chain"


@pytest.fixture
def fetcher() -> Iterator[HttpFetcher]:
    with HttpFetcher(timeout=2.0) as f:
        yield f


def _kds(
    server: RecordedServer, fetcher: HttpFetcher | None, cache: CollateralCache | None, **kw: Any
) -> KdsClient:
    return KdsClient(fetcher, cache, base_url=server.base_url, clock=lambda: NOW, **kw)


def _pcs(
    server: RecordedServer, fetcher: HttpFetcher | None, cache: CollateralCache | None, **kw: Any
) -> PcsClient:
    return PcsClient(fetcher, cache, base_url=server.base_url, clock=lambda: NOW, **kw)


def _round_trip(
    found: Found[Any], fetch_offline: Callable[[Any], Found[Any]], client: Callable[..., Any]
) -> None:
    """The bundle entry of ``found`` is what an offline client finds again, unchanged."""
    entry = found.to_bundle_entry()
    assert (entry.key, entry.url, entry.fetched_at, entry.expires_at) == (
        found.key,
        found.url,
        found.fetched_at,
        found.expires_at,
    )
    assert entry.data == found.kind.encode(found.value)
    again = fetch_offline(client(offline=True, bundle=build_bundle([entry])))
    assert (again.source, again.value, again.key, again.url) == (
        Source.BUNDLE,
        found.value,
        found.key,
        found.url,
    )
    assert again.to_bundle_entry() == entry


def test_kds_finds_bytes_and_bundles_them_as_they_are(
    recorded_server: RecordedServer, fetcher: HttpFetcher, tmp_path: Path, testdata: Path
) -> None:
    chain = (testdata / "snp/go-sev-guest/milan.testcer").read_bytes()
    recorded_server.script(CHAIN_PATH, Reply(200, chain))
    cache = CollateralCache(tmp_path / "cache")
    from_network = _kds(recorded_server, fetcher, cache).fetch_cert_chain("Milan")
    from_cache = _kds(recorded_server, None, cache, offline=True).fetch_cert_chain("Milan")
    for found in (from_network, from_cache):
        assert isinstance(found, Found) and isinstance(found.value, bytes)
        assert found.value == chain and found.namespace == "kds" and not found.stale
        entry = found.to_bundle_entry()
        assert (entry.namespace, entry.data) == ("kds", chain)
        _round_trip(
            found,
            lambda client: client.fetch_cert_chain("Milan"),
            lambda **kw: _kds(recorded_server, None, None, **kw),
        )
    assert (from_network.source, from_cache.source) == (Source.NETWORK, Source.CACHE)


def test_pcs_finds_body_and_chain_and_bundles_them_in_the_envelope(
    recorded_server: RecordedServer, fetcher: HttpFetcher, tmp_path: Path, testdata: Path
) -> None:
    qvl = load_qvl_pcs_set(testdata)
    serve_pcs(recorded_server, qvl)
    cache = CollateralCache(tmp_path / "cache")
    from_network = _pcs(recorded_server, fetcher, cache).fetch_tcb_info(FMSPC)
    from_cache = _pcs(recorded_server, None, cache, offline=True).fetch_tcb_info(FMSPC)
    for found in (from_network, from_cache):
        assert isinstance(found, Found) and isinstance(found.value, PcsResponse)
        assert found.value == (qvl.tcb_body, qvl.tcb_chain) and found.namespace == "pcs"
        entry = found.to_bundle_entry()
        assert (entry.namespace, entry.key) == ("pcs", TCB_PATH)
        assert decode_envelope(entry.data) == (qvl.tcb_body, qvl.tcb_chain)
        _round_trip(
            found,
            lambda client: client.fetch_tcb_info(FMSPC),
            lambda **kw: _pcs(recorded_server, None, None, **kw),
        )
    assert (from_network.source, from_cache.source) == (Source.NETWORK, Source.CACHE)
