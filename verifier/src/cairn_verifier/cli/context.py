"""Build what a verify command needs from its options: policy and collateral sources."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from ..collateral.bundle import CollateralBundle, is_bundle_file, load_bundle
from ..collateral.cache import CollateralCache, default_cache_dir
from ..collateral.http import HttpFetcher
from ..snp.kds import KdsClient
from ..tdx.collateral import TdxCollateral, load_collateral_path
from ..tdx.pcs import PcsClient
from .common import check_http_url

ClientT = TypeVar("ClientT", KdsClient, PcsClient)


@dataclass(frozen=True)
class CollateralSources:
    """Bundle, cache and network access as the options allow."""

    offline: bool
    cache: CollateralCache | None
    bundle: CollateralBundle | None
    at: datetime

    def clock(self) -> datetime:
        """Freshness of cached or bundled collateral is judged at the verification time."""
        return self.at

    def kds(self, base_url: str) -> KdsClient:
        """A KDS client for ``--kds-url`` (a malformed URL is malformed input, even offline)."""
        check_http_url(base_url, "--kds-url", "https://kdsintf.amd.com")
        return self._client(KdsClient, base_url)

    def pcs(self, base_url: str) -> PcsClient:
        """A PCS client for ``--pccs`` (a malformed URL is malformed input, even offline)."""
        check_http_url(base_url, "--pccs", "https://api.trustedservices.intel.com")
        return self._client(PcsClient, base_url)

    def _client(self, kind: type[ClientT], base_url: str) -> ClientT:
        fetcher = None if self.offline else HttpFetcher()
        return kind(
            fetcher,
            self.cache,
            base_url=base_url,
            offline=self.offline,
            bundle=self.bundle,
            clock=self.clock,
        )


def collateral_sources(
    args: argparse.Namespace, *, at: datetime, bundle_path: Path | None
) -> CollateralSources:
    """Cache per --cache-dir/--no-cache, network per --offline, and an optional bundle."""
    cache = None
    if not getattr(args, "no_cache", False):
        cache = CollateralCache(args.cache_dir or default_cache_dir())
    bundle = load_bundle(bundle_path) if bundle_path else None
    return CollateralSources(offline=args.offline, cache=cache, bundle=bundle, at=at)


def tdx_collateral_option(path: Path | None) -> tuple[TdxCollateral | None, Path | None]:
    """``--collateral`` for TDX: (collateral to use directly, or a Cairn bundle path)."""
    if path is None:
        return None, None
    if is_bundle_file(path):
        return None, path
    return load_collateral_path(path), None
