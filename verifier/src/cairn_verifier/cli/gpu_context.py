"""NVIDIA collateral sources from the command line: bundle, local files, cache and network.

The same bundle, cache, network switch and progress reporting as AMD KDS and Intel PCS
(:mod:`.context`); ``--ocsp`` and ``--crl`` files join the ``--collateral`` bundle as entries of
their own, ``--rim`` files are matched to devices by their product and version.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from ..collateral.bundle import BundleEntry, build_bundle, load_bundle
from ..collateral.http import HttpFetcher
from ..collateral.lookup import Advice
from ..gpu.collateral import OcspClient, RimClient, bundled_crls
from ..gpu.revocation import RevocationSources
from ..gpu.rim_checks import LocalRim, RimSources
from ..x509.cert import Certificate
from ..x509.crl import Crl
from .common import check_http_url
from .context import CollateralSources, collateral_sources

ADVICE = Advice(
    offline="pass the RIMs and OCSP responses with --collateral BUNDLE (`cairn collateral "
    "export --gpu EVIDENCE` where NVIDIA's services are reachable) or --rim/--ocsp files; or "
    "drop --offline",
    stale="pass a bundle with current OCSP responses, or verify --at a time they were current",
    unreachable="or verify without network access: --offline with --collateral BUNDLE",
    unavailable="or verify without network access: --offline with --collateral BUNDLE",
)


@dataclass
class GpuSources:
    """The RIM and OCSP clients one command uses."""

    rims: RimClient
    ocsp: OcspClient
    crls: tuple[Crl, ...]

    def rim_sources(self, local: Sequence[LocalRim]) -> RimSources:
        return RimSources(local=tuple(local), client=self.rims)

    def revocation(self) -> RevocationSources:
        def lookup(cert: Certificate, issuer: Certificate) -> tuple[bytes, str]:
            found = self.ocsp.fetch_ocsp(cert, issuer)
            return found.value, found.source.value

        return RevocationSources(ocsp=lookup, crls=self.crls)


@contextmanager
def gpu_sources(
    args: argparse.Namespace, at: datetime, local: list[BundleEntry]
) -> Iterator[GpuSources]:
    """Clients for ``args`` (``--collateral``, ``--offline``, cache options, URLs)."""
    check_http_url(args.rim_url, "--rim-url", "https://rim.attestation.nvidia.com/v1/rim")
    check_http_url(args.ocsp_url, "--ocsp-url", "https://ocsp.ndis.nvidia.com")
    entries = list(local)
    label_parts = []
    if args.collateral is not None:
        entries = [*load_bundle(args.collateral).entries, *entries]
        label_parts.append(f"--collateral {args.collateral}")
    if local:
        label_parts.append("--ocsp/--crl files")
    bundle = build_bundle(entries) if entries else None
    sources = collateral_sources(
        args,
        at=at,
        bundle_path=None,
        bundle=bundle,
        bundle_label=" and ".join(label_parts) or None,
    )
    with nvidia_clients(sources, args) as (rims, ocsp):
        yield GpuSources(rims, ocsp, bundled_crls(bundle))


@contextmanager
def nvidia_clients(
    sources: CollateralSources, args: argparse.Namespace
) -> Iterator[tuple[RimClient, OcspClient]]:
    """RIM and OCSP clients sharing ``sources``' bundle, cache, network switch and one fetcher
    (``--rim-url``, ``--ocsp-url``)."""
    fetcher = None if sources.offline else HttpFetcher(progress=sources.progress)
    clients = tuple(
        kind(
            fetcher,
            sources.cache,
            base_url=url,
            offline=sources.offline,
            bundle=sources.bundle,
            clock=sources.clock,
            advice=ADVICE,
            bundle_label=sources.bundle_label,
        )
        for kind, url in ((RimClient, args.rim_url), (OcspClient, args.ocsp_url))
    )
    rims, ocsp = clients
    assert isinstance(rims, RimClient) and isinstance(ocsp, OcspClient)
    try:
        yield rims, ocsp
    finally:
        if fetcher is not None:
            fetcher.close()


@contextmanager
def evidence_gpu_sources(
    sources: CollateralSources, rim_url: str, ocsp_url: str
) -> Iterator[tuple[RimSources, RevocationSources]]:
    """RIM and revocation sources for the GPUs of an evidence bundle: the same bundle
    (``--collateral``), cache and network switch as the bundle's TEE collateral."""
    urls = argparse.Namespace(rim_url=rim_url, ocsp_url=ocsp_url)
    with nvidia_clients(sources, urls) as (rims, ocsp):
        gpu = GpuSources(rims, ocsp, bundled_crls(sources.bundle))
        yield gpu.rim_sources(()), gpu.revocation()
