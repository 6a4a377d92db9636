"""Build what a command needs from its options: collateral sources, their hints and progress."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

from ..collateral.cache import CollateralCache, default_cache_dir
from ..collateral.lookup import Advice
from ..records import Record
from .common import check_http_url

# AMD's and Intel's clients load when a command asks for them (sources.kds(), sources.pcs()), so
# `verify snp` does not import Intel's PCS client nor `verify tdx` AMD's KDS client.
if TYPE_CHECKING:
    from ..collateral.bundle import CollateralBundle
    from ..collateral.http import FetchProgress
    from ..snp.kds import KdsClient
    from ..tdx.collateral import TdxCollateral
    from ..tdx.pcs import PcsClient
    from ..tdx.quote import Quote

    ClientT = TypeVar("ClientT", KdsClient, PcsClient)


class Command(StrEnum):
    """Which command needs collateral: it decides which options a hint may name."""

    VERIFY_SNP = "verify snp"
    VERIFY_TDX = "verify tdx"
    VERIFY_EVIDENCE = "verify evidence"  # also `cairn zk verify` (the same options)
    EXPORT = "collateral export"

    @classmethod
    def of(cls, args: argparse.Namespace) -> Command:
        if getattr(args, "command", None) == "collateral":
            return cls.EXPORT
        if getattr(args, "command", None) == "verify" and getattr(args, "what", None) == "snp":
            return cls.VERIFY_SNP
        if getattr(args, "command", None) == "verify" and getattr(args, "what", None) == "tdx":
            return cls.VERIFY_TDX
        return cls.VERIFY_EVIDENCE


_SNP_OFFLINE = (
    "pass the VCEK with --certs (e.g. from `snpguest certificates`) and AMD's CRL with --crl, or "
    "a bundle with --collateral (from `cairn collateral export --snp REPORT` where AMD KDS is "
    "reachable); or drop --offline"
)
_TDX_SOURCES = "dcap-qvl collateral JSON, a directory of Intel PCS responses, or a bundle"

KDS_ADVICE: dict[Command, Advice] = {
    Command.VERIFY_SNP: Advice(
        offline=_SNP_OFFLINE,
        stale="pass a current copy (--certs, --crl, or a bundle exported again), or verify --at "
        "a time before it expired",
        unreachable="or verify without network access: --offline with the VCEK in --certs and "
        "AMD's CRL in --crl, or with --collateral BUNDLE; or use a reachable KDS mirror with "
        "--kds-url URL",
        unavailable="or verify without network access: --offline with --certs and --crl, or "
        "with --collateral BUNDLE",
    ),
    Command.VERIFY_EVIDENCE: Advice(
        offline="pass --collateral BUNDLE with the VCEK and AMD's CRL (`cairn collateral export "
        "--certs FILE|DIR --crl FILE` makes one from local files; without them it fetches the "
        "documents where AMD KDS is reachable); or drop --offline",
        stale="pass a bundle with a current copy, or verify --at a time before it expired",
        unreachable="or verify without network access: --offline with --collateral BUNDLE; or "
        "use a reachable KDS mirror with --kds-url URL",
        unavailable="or verify without network access: --offline with --collateral BUNDLE",
    ),
    Command.EXPORT: Advice(
        offline="seed it from local files: the VCEK with --certs FILE|DIR, AMD's CRL with --crl "
        "FILE; or drop --offline to fetch it from AMD KDS",
        stale="pass a current copy (--crl FILE), or export --at a time before it expired (to "
        "verify old evidence as of then)",
        unreachable="or export without network access: --offline with the VCEK in --certs and "
        "AMD's CRL in --crl; or use a reachable KDS mirror with --kds-url URL",
        unavailable="or export without network access: --offline with --certs and --crl",
    ),
}

PCS_ADVICE: dict[Command, Advice] = {
    Command.VERIFY_TDX: Advice(
        offline=f"pass the collateral with --collateral ({_TDX_SOURCES} from `cairn collateral "
        "export --tdx QUOTE` where Intel PCS is reachable); or drop --offline",
        stale="pass current collateral with --collateral, or verify --at a time before it expired",
        unreachable=f"or verify without network access: --offline with --collateral "
        f"({_TDX_SOURCES}); or use a reachable PCCS with --pccs URL",
        unavailable="or verify without network access: --offline with --collateral",
    ),
    Command.EXPORT: Advice(
        offline=f"seed it from local files with --collateral ({_TDX_SOURCES}); or drop "
        "--offline to fetch it from Intel PCS",
        stale="pass current collateral with --collateral, or export --at a time before it "
        "expired (to verify old evidence as of then)",
        unreachable="or export without network access: --offline with --collateral "
        f"({_TDX_SOURCES}); or use a reachable PCCS with --pccs URL",
        unavailable="or export without network access: --offline with --collateral",
    ),
}
PCS_ADVICE[Command.VERIFY_EVIDENCE] = PCS_ADVICE[Command.VERIFY_TDX]


def kds_advice(command: Command) -> Advice:
    """The KDS hints worded for ``command``'s options (the library's own for a command that
    needs no KDS: verify tdx)."""
    if command in KDS_ADVICE:
        return KDS_ADVICE[command]
    from ..snp.kds import DEFAULT_ADVICE

    return DEFAULT_ADVICE


def pcs_advice(command: Command) -> Advice:
    """The PCS hints worded for ``command``'s options (the library's own for a command that
    needs no PCS: verify snp)."""
    if command in PCS_ADVICE:
        return PCS_ADVICE[command]
    from ..tdx.pcs import DEFAULT_ADVICE

    return DEFAULT_ADVICE


class CollateralSources(Record):
    """Bundle, cache and network access as the options allow."""

    offline: bool
    cache: CollateralCache | None
    bundle: CollateralBundle | None
    at: datetime
    command: Command
    bundle_label: str | None
    progress: FetchProgress | None

    __slots__ = ("at", "bundle", "bundle_label", "cache", "command", "offline", "progress")

    def __init__(  # noqa: PLR0917
        self,
        offline: bool,
        cache: CollateralCache | None,
        bundle: CollateralBundle | None,
        at: datetime,
        command: Command = Command.VERIFY_SNP,
        bundle_label: str | None = None,
        progress: FetchProgress | None = None,
    ) -> None:
        object.__setattr__(self, "offline", offline)
        object.__setattr__(self, "cache", cache)
        object.__setattr__(self, "bundle", bundle)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "command", command)
        object.__setattr__(self, "bundle_label", bundle_label)
        object.__setattr__(self, "progress", progress)

    def clock(self) -> datetime:
        """Freshness of cached or bundled collateral is judged at the verification time."""
        return self.at

    def kds(self, base_url: str) -> KdsClient:
        """A KDS client for ``--kds-url`` (a malformed URL is malformed input, even offline)."""
        from ..snp.kds import KDS_BASE_URL, KdsClient

        if base_url != KDS_BASE_URL:  # the default is valid (and needs no URL parser)
            check_http_url(base_url, "--kds-url", "https://kdsintf.amd.com")
        return self._client(KdsClient, base_url, kds_advice(self.command))

    def pcs(self, base_url: str) -> PcsClient:
        """A PCS client for ``--pccs`` (a malformed URL is malformed input, even offline)."""
        from ..tdx.pcs import PCS_BASE_URL, PcsClient

        if base_url != PCS_BASE_URL:  # the default is valid (and needs no URL parser)
            check_http_url(base_url, "--pccs", "https://api.trustedservices.intel.com")
        return self._client(PcsClient, base_url, pcs_advice(self.command))

    def _client(self, kind: type[ClientT], base_url: str, advice: Advice) -> ClientT:
        fetcher = None
        if not self.offline:
            from ..collateral.http import HttpFetcher

            fetcher = HttpFetcher(progress=self.progress)
        return kind(
            fetcher,
            self.cache,
            base_url=base_url,
            offline=self.offline,
            bundle=self.bundle,
            clock=self.clock,
            advice=advice,
            bundle_label=self.bundle_label,
        )


def progress_for(args: argparse.Namespace, stream: TextIO | None = None) -> FetchProgress | None:
    """Progress lines on standard error when it is a terminal, or with ``--progress``."""
    stream = stream if stream is not None else sys.stderr
    wanted = getattr(args, "progress", False)
    if not wanted:
        try:
            wanted = stream.isatty()
        except (AttributeError, ValueError):
            wanted = False
    if not wanted:
        return None
    from ..collateral.progress import StreamProgress

    return StreamProgress(stream)


def collateral_sources(
    args: argparse.Namespace,
    *,
    at: datetime,
    bundle_path: Path | None,
    bundle: CollateralBundle | None = None,
    bundle_label: str | None = None,
) -> CollateralSources:
    """Cache per --cache-dir/--no-cache, network per --offline, and an optional bundle.

    ``bundle_path`` may be any format :func:`~.collateral_files.read_collateral` reads (a Cairn
    bundle, dcap-qvl JSON, a directory of PCS responses); ``bundle`` passes one already built.
    """
    cache = None
    if not getattr(args, "no_cache", False):
        cache = CollateralCache(args.cache_dir or default_cache_dir())
    if bundle_path is not None:
        from .collateral_files import read_collateral

        local = read_collateral(bundle_path, fetched_at=datetime.now(UTC))
        bundle, bundle_label = local.bundle(), f"--collateral {local.label}"
    return CollateralSources(
        offline=args.offline,
        cache=cache,
        bundle=bundle,
        at=at,
        command=Command.of(args),
        bundle_label=bundle_label,
        progress=progress_for(args),
    )


def tdx_collateral_option(
    path: Path | None, quote: Quote | None = None
) -> tuple[TdxCollateral | None, Path | None]:
    """``--collateral`` for TDX: (collateral to use directly, or the path of a Cairn bundle).

    ``quote`` picks the FMSPC and PCK CA from a directory of PCS files holding several.
    """
    if path is None:
        return None, None
    from .collateral_files import read_tdx_collateral

    collateral = read_tdx_collateral(path, quote)
    return (collateral, None) if collateral is not None else (None, path)
