"""Build what a verify command needs from its options: policy and collateral sources."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime

from ..collateral.bundle import CollateralBundle, load_bundle
from ..collateral.cache import CollateralCache, default_cache_dir
from ..collateral.http import HttpFetcher
from ..snp.kds import KdsClient


@dataclass(frozen=True)
class CollateralSources:
    """Bundle, cache and network access as the options allow."""

    offline: bool
    cache: CollateralCache | None
    bundle: CollateralBundle | None
    at: datetime

    def kds(self, base_url: str) -> KdsClient:
        fetcher = None if self.offline else HttpFetcher()
        return KdsClient(
            fetcher, self.cache, base_url=base_url, offline=self.offline, bundle=self.bundle
        )


def collateral_sources(args: argparse.Namespace, *, at: datetime) -> CollateralSources:
    cache = None
    if not getattr(args, "no_cache", False):
        cache = CollateralCache(args.cache_dir or default_cache_dir())
    bundle_path = getattr(args, "collateral", None)
    bundle = load_bundle(bundle_path) if bundle_path else None
    return CollateralSources(offline=args.offline, cache=cache, bundle=bundle, at=at)
