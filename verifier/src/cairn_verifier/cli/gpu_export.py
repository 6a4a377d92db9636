"""``cairn collateral export --gpu EVIDENCE``: the NVIDIA collateral GPU evidence needs.

For every device of every ``--gpu`` input (and of every ``--evidence`` bundle's ``gpu``
member): the OCSP responses about its chain's CAs; its RIMs
(driver and VBIOS, or the NVSwitch BIOS), each with the time it was fetched; and the OCSP
responses about each RIM's signer chain. Each document comes from the local files (``--rim``
with ``--rim-fetched-at``, ``--ocsp``, ``--gpu-crl``), else the cache, else NVIDIA's services
(unless ``--offline``). A RIM that cannot be had fails the export (exit 5: verification needs
it); an OCSP response that cannot be had is listed as not bundled. A device whose chain ends in
a root other than NVIDIA's (a simulated GPU, trusted only through ``--trust-simulated-root``) is
listed as not bundled, and nothing is fetched for it. Nothing is verified here: ``cairn verify
gpu --collateral BUNDLE`` checks every signature.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..collateral.bundle import BundleEntry, build_bundle
from ..collateral.lookup import Found
from ..errors import CairnError, CollateralUnavailableError
from ..gpu.collateral import (
    OcspClient,
    crl_bundle_entry,
    ocsp_bundle_entry,
    rim_bundle_entry,
)
from ..gpu.evidence import DeviceEvidence
from ..gpu.families import leaf_family
from ..gpu.report import decode_report
from ..gpu.rim import load_rim
from ..gpu.rim_ids import RIM_PRODUCTS, rim_plan
from ..gpu.roots import NvidiaRoot, pinned_root
from ..gpu.spdm import parse_spdm_report
from ..inputs.text import decode_blob
from ..x509.cert import Certificate, parse_certificate
from ..x509.crl import load_crl
from .common import check_http_url, parse_time, read_input_file
from .context import collateral_sources
from .gpu_context import nvidia_clients
from .gpu_run import read_gpu_input


@dataclass
class GpuExport:
    """What the GPU part of an export found: entries (with where each came from) and notes."""

    entries: list[tuple[BundleEntry, str]] = field(default_factory=list)
    not_bundled: list[str] = field(default_factory=list)


def _seeds(args: argparse.Namespace, now: datetime) -> tuple[list[BundleEntry], list[bytes]]:
    """Entries of ``--ocsp`` and ``--gpu-crl`` files, and the ``--rim`` documents."""
    entries = []
    for path in args.ocsp:
        der = decode_blob(read_input_file(path, "OCSP response"), what=f"OCSP response {path}")
        entries.append(ocsp_bundle_entry(der, fetched_at=now))
    for path in args.gpu_crl:
        entries.append(crl_bundle_entry(load_crl(read_input_file(path, "CRL")).der, fetched_at=now))
    rims = [read_input_file(path, "RIM") for path in args.rim]
    return entries, rims


def export_gpu(args: argparse.Namespace, bundled: Sequence[DeviceEvidence] = ()) -> GpuExport:
    """The entries for every ``--gpu`` input and every device of ``bundled`` (the GPUs of
    evidence bundles), and the documents that could not be had."""
    check_http_url(args.rim_url, "--rim-url", "https://rim.attestation.nvidia.com/v1/rim")
    check_http_url(args.ocsp_url, "--ocsp-url", "https://ocsp.ndis.nvidia.com")
    now = datetime.now(UTC)
    fetched = parse_time(args.rim_fetched_at) if args.rim_fetched_at else now
    seed_entries, local_rims = _seeds(args, now)
    export = GpuExport()
    devices = [d for path in args.gpu for d in read_gpu_input(path, args.gpu_certs).devices]
    plans = []
    for device in [*devices, *bundled]:
        chain = [parse_certificate(der) for der in device.certificates]
        foreign = _foreign_root(chain)
        if foreign is not None:
            export.not_bundled.append(
                f"{device.label}: its chain ends in '{foreign.display_name}', not NVIDIA's "
                "Device Identity CA (a simulated GPU, trusted only with "
                "--trust-simulated-root), so it needs no NVIDIA collateral, and none was fetched "
                "for it"
            )
            continue
        family = leaf_family(chain[0])
        report = decode_report(parse_spdm_report(device.report), family.kind)
        plans.append((chain, family, rim_plan(family, report)))
    for _, family, plan in plans:
        for request in plan.requests:
            for xml in local_rims:
                content = load_rim(xml).content
                if content.product == RIM_PRODUCTS[family] and (
                    content.colloquial_version.upper() == request.version.upper()
                ):
                    seed_entries.append(rim_bundle_entry(request.rim_id, xml, fetched_at=fetched))
    for entry in seed_entries:
        export.entries.append((entry, "local files (--rim, --ocsp, --gpu-crl)"))
    seeds = build_bundle(seed_entries) if seed_entries else None
    at = parse_time(args.at)
    sources = collateral_sources(
        args, at=at, bundle_path=None, bundle=seeds, bundle_label="the local files"
    )
    with nvidia_clients(sources, args) as (rims, ocsp):
        for chain, _, plan in plans:
            device_root = pinned_root(NvidiaRoot.DEVICE_IDENTITY)
            cas = [c for c in chain[1:] if c.der != device_root.der]
            _ocsp_for(ocsp, cas, device_root, export)
            for request in plan.requests:
                found = rims.fetch_rim(request.rim_id)
                _add(export, found)
                signer_chain = list(load_rim(found.value).certificates)
                root = pinned_root(NvidiaRoot.CORIM)
                below = [c for c in signer_chain if c.der != root.der]
                _ocsp_for(ocsp, below, root, export)
            export.not_bundled += [f"{chain[0].display_name}: {why}" for why in plan.missing]
    return export


def _foreign_root(chain: list[Certificate]) -> Certificate | None:
    """The self-issued certificate ending ``chain`` when it is not NVIDIA's pinned device root."""
    last = chain[-1] if chain else None
    if last is None or last.subject.der != last.issuer.der:
        return None
    return None if last.der == pinned_root(NvidiaRoot.DEVICE_IDENTITY).der else last


def _add(export: GpuExport, found: Found[bytes]) -> None:
    """A document a lookup found; one from the local files is listed already."""
    if any(entry.key == found.key for entry, _ in export.entries):
        return
    export.entries.append((found.to_bundle_entry(), found.source.value))


def _ocsp_for(
    client: OcspClient, certificates: list[Certificate], root: Certificate, export: GpuExport
) -> None:
    issuers = [*certificates[1:], root]
    for cert, issuer in zip(certificates, issuers, strict=True):
        try:
            _add(export, client.fetch_ocsp(cert, issuer))
        except CollateralUnavailableError as error:
            export.not_bundled.append(f"OCSP status of '{cert.display_name}': {error.message}")
        except CairnError as error:
            export.not_bundled.append(f"OCSP status of '{cert.display_name}': {error.message}")
