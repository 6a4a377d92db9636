"""``cairn collateral export|import``: carry collateral to machines without network access.

``export`` writes one JSON bundle with what the given evidence needs — for SEV-SNP reports the
VCEK at REPORTED_TCB and the CRL (ASK/ASVK and ARK are pinned); for TDX quotes the TCB info of
the PCK's FMSPC, the QE identity, the PCK and Root CA CRLs; for Cairn evidence bundles
(``--evidence``) those of the report or quote inside and of its GPUs (:mod:`.evidence_export`).
Each document comes from local files (``--certs``, ``--crl``, ``--collateral``, and what a
bundle carries beside its report), else the cache, else the network (unless ``--offline``);
local files alone, without any evidence named, make a bundle too. ``import``
loads a bundle, dcap-qvl collateral JSON or a directory of PCS responses into the local cache.
``cairn verify … --collateral FILE`` reads the same formats directly.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..collateral.bundle import BundleEntry, build_bundle, export_bundle, import_bundle
from ..collateral.cache import CollateralCache, default_cache_dir
from ..collateral.failures import join_hints
from ..collateral.lookup import Source
from ..errors import CairnError, CollateralUnavailableError, MalformedInputError, UsageError
from ..inputs import read_snp_evidence, read_tdx_evidence
from ..snp.kds import KDS_BASE_URL, NAMESPACE, CertKind, CrlRequest, KdsRequest, VcekRequest
from ..snp.product import ProductLine
from ..snp.report import SigningKey, peek_signing_fields
from ..snp.tcb import TcbVersion
from ..tdx.pck import SGX_EXTENSIONS_OID, SgxExtensions, pck_ca_kind
from ..tdx.pcs import PCS_BASE_URL
from ..x509.cert import load_certificates
from .collateral_files import (
    certificate_seeds,
    read_collateral,
    read_embedded_dcap_qvl,
    read_snp_seeds,
)
from .common import Output, add_json_option, add_progress_option, parse_time, read_input_file
from .context import collateral_sources
from .gpu_cmd import add_nvidia_files
from .snp_cmd import product_argument

if TYPE_CHECKING:
    from ..tdx.quote import Quote
    from .evidence_export import EvidenceParts

_Report = tuple[str, KdsRequest]
"""A report's name (its file, or its evidence bundle) and one request its verification needs."""


def configure_export(export: argparse.ArgumentParser) -> None:
    export.description = (
        "Write one collateral bundle: for each --snp report, --tdx quote, --gpu evidence "
        "and --evidence bundle what verifying it offline needs, taken from "
        "--certs/--crl/--collateral (and what a bundle carries), else the cache, else the "
        "network (unless --offline). Local files alone (without evidence) are bundled as "
        "they are."
    )
    export.add_argument(
        "--snp",
        type=Path,
        action="append",
        default=[],
        metavar="REPORT",
        help="an SEV-SNP report whose VCEK and CRL to bundle (repeatable)",
    )
    export.add_argument(
        "--tdx",
        type=Path,
        action="append",
        default=[],
        metavar="QUOTE",
        help="a TDX quote whose collateral to bundle (repeatable)",
    )
    export.add_argument(
        "--evidence",
        action="append",
        default=[],
        metavar="FILE|URL",
        help="a Cairn evidence bundle whose collateral to bundle: the SEV-SNP report's, the "
        "TDX quote's (also inside Azure's HCL report) and its GPUs'; or an agent address, as "
        "`cairn verify evidence` takes it, to fetch a fresh bundle from (repeatable)",
    )
    export.add_argument(
        "--certs",
        type=Path,
        action="append",
        default=[],
        metavar="FILE|DIR",
        help="SEV-SNP: take the VCEK (and a CRL) from these certificates: PEM, DER or an "
        "snpguest directory (repeatable)",
    )
    export.add_argument(
        "--crl",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="SEV-SNP: AMD's CRL of a product line, DER or PEM (repeatable)",
    )
    export.add_argument(
        "--collateral",
        type=Path,
        action="append",
        default=[],
        metavar="FILE|DIR",
        help="take collateral from a Cairn bundle, dcap-qvl collateral JSON or a directory of "
        "Intel PCS responses (repeatable)",
    )
    export.add_argument(
        "--gpu",
        type=Path,
        action="append",
        default=[],
        metavar="EVIDENCE",
        help="NVIDIA GPU evidence whose RIMs and OCSP responses to bundle (repeatable)",
    )
    add_gpu_export_options(export)
    export.add_argument(
        "--product",
        type=product_argument,
        metavar="P",
        help="the product line (Milan, Genoa, Turin) of version 2 reports, which do not name it "
        "(for a bundle's report, the one its certificates name is used otherwise)",
    )
    export.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="BUNDLE",
        help="the bundle file to write",
    )
    export.add_argument("--force", action="store_true", help="replace an existing bundle file")
    export.add_argument(
        "--at",
        metavar="TIME",
        help="judge whether local, cached or bundled collateral is current as of this time "
        "(ISO 8601; default: now), e.g. to export for verifying old evidence",
    )
    export.add_argument(
        "--kds-url", default=KDS_BASE_URL, metavar="URL", help="AMD KDS base URL (or a mirror)"
    )
    export.add_argument(
        "--pccs",
        default=PCS_BASE_URL,
        metavar="URL",
        help="Intel PCS or a PCCS to fetch TDX collateral from (default: Intel PCS)",
    )
    export.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="collateral cache directory (default: $XDG_CACHE_HOME/cairn)",
    )
    export.add_argument(
        "--no-cache", action="store_true", help="neither read nor write the collateral cache"
    )
    export.add_argument(
        "--offline",
        action="store_true",
        help="never use the network: only --certs/--crl/--collateral and the cache",
    )
    add_progress_option(export)
    add_json_option(export)
    export.set_defaults(func=export_command)


def configure_import(imp: argparse.ArgumentParser) -> None:
    imp.description = (
        "Load a Cairn bundle, dcap-qvl collateral JSON or a directory of Intel PCS "
        "responses into the collateral cache, for later `cairn verify … --offline` runs."
    )
    imp.add_argument(
        "bundle",
        type=Path,
        metavar="FILE|DIR",
        help="a Cairn bundle, dcap-qvl collateral JSON or a directory of Intel PCS responses",
    )
    imp.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="collateral cache directory (default: $XDG_CACHE_HOME/cairn)",
    )
    add_json_option(imp)
    imp.set_defaults(func=import_command)


def add_gpu_export_options(export: argparse.ArgumentParser) -> None:
    """The NVIDIA files and services of ``--gpu`` (docs/gpu.md, "Offline")."""
    export.add_argument(
        "--gpu-certs",
        type=Path,
        metavar="FILE",
        help="GPU: the certificate chain (PEM) of a bare attestation report given with --gpu",
    )
    add_nvidia_files(export, crl="--gpu-crl", prefix="GPU: ")


def snp_requests(
    raw: bytes,
    subject: str,
    product: ProductLine | None,
    certified: ProductLine | None = None,
) -> list[KdsRequest]:
    """What verifying the SEV-SNP report ``raw`` (named ``subject``) needs from AMD KDS.

    The product line is ``product`` (``--product``), else the report's CPUID, else
    ``certified``: the one the certificates sent with the report name.
    """
    with _named(subject):
        peek = peek_signing_fields(raw)
    chosen = product or peek.product_from_cpuid or certified
    if chosen is None:
        raise MalformedInputError(
            f"{subject}: cannot tell the product line of a v2 report", hint="pass --product"
        )
    kind: CertKind = "vlek" if peek.signing_key is SigningKey.VLEK else "vcek"
    requests: list[KdsRequest] = [CrlRequest(chosen.value, kind)]
    if kind == "vcek":
        tcb = TcbVersion.decode(peek.reported_tcb, chosen).components()
        requests.append(VcekRequest(chosen.value, peek.chip_id, tcb))
    return requests


def tdx_request(quote: Quote, subject: str) -> tuple[bytes, str]:
    """The (FMSPC, PCK CA) whose collateral verifying ``quote`` (named ``subject``) needs."""
    with _named(subject):
        chain = load_certificates(quote.certification.pck_cert_chain_pem)
    if len(chain) < 2:
        raise MalformedInputError(
            f"{subject}: the quote's PCK chain has {len(chain)} certificate(s); it must name the "
            "PCK and the CA that issued it"
        )
    leaf, ca = chain[:2]
    extension = leaf.extensions.get(SGX_EXTENSIONS_OID)
    if extension is None:
        raise MalformedInputError(f"{subject}: the PCK certificate lacks Intel's SGX extensions")
    with _named(subject):
        return SgxExtensions.parse(extension.value).fmspc, pck_ca_kind(ca.subject.common_name)


@contextmanager
def _named(subject: str) -> Iterator[None]:
    """A typed error raised inside names the report or quote it is about."""
    try:
        yield
    except CairnError as error:
        if subject not in error.message:
            error.message = f"{subject}: {error.message}"
        raise


@dataclass
class _Collected:
    """Bundle entries in the order they were found, each with where it came from."""

    entries: dict[tuple[str, str], BundleEntry] = field(default_factory=dict)
    origins: dict[tuple[str, str], str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def add(self, entry: BundleEntry, origin: str) -> None:
        ident = (entry.namespace, entry.key)
        self.entries[ident] = entry
        self.origins[ident] = origin

    def add_found(self, entry: BundleEntry, source: Source) -> None:
        """A document the lookup found: from the seeds (keep their origin), cache or network."""
        ident = (entry.namespace, entry.key)
        if source is Source.BUNDLE and ident in self.origins:
            return
        self.add(entry, source.value)


def _seed(
    args: argparse.Namespace, requests: Iterable[KdsRequest], bundles: Iterable[EvidenceParts]
) -> _Collected:
    """Entries from what evidence bundles carry, then --certs, --crl and --collateral (whose
    copy of a document replaces a bundle's)."""
    now = datetime.now(UTC)
    collected = _Collected()
    for parts in bundles:
        _seed_from_bundle(parts, collected, now)
    crl_kinds: dict[ProductLine, set[CertKind]] = {}
    for request in requests:
        if isinstance(request, CrlRequest):
            crl_kinds.setdefault(ProductLine.parse(request.product), set()).add(request.kind)
    snp = read_snp_seeds(args.certs, args.crl, crl_kinds=crl_kinds, fetched_at=now)
    for seed in snp.seeds:
        collected.add(seed.entry, seed.origin)
    collected.skipped += snp.skipped
    for path in args.collateral:
        local = read_collateral(path, fetched_at=now)
        for entry in local.entries:
            collected.add(entry, f"--collateral {local.label}")
        collected.skipped += [f"{note} ({local.label})" for note in local.skipped]
    return collected


def _seed_from_bundle(parts: EvidenceParts, collected: _Collected, now: datetime) -> None:
    """The VCEK among an evidence bundle's ``tee.certificates`` (as --certs would file it) and
    its embedded Intel collateral (as --collateral would)."""
    if parts.certificates is not None:
        origin = parts.certificates_origin
        snp = certificate_seeds(
            parts.certificates,
            origin,
            fetched_at=now,
            vlek_advice="a verification of the bundle takes it from the bundle",
        )
        for seed in snp.seeds:
            collected.add(seed.entry, seed.origin)
        collected.skipped += snp.skipped
    if parts.tdx_collateral is not None:
        origin = parts.collateral_origin
        entries, skipped = read_embedded_dcap_qvl(parts.tdx_collateral, origin, fetched_at=now)
        for entry in entries:
            collected.add(entry, origin)
        collected.skipped += [f"{note} ({origin})" for note in skipped]


def _other_vceks(collected: _Collected, report: str) -> str | None:
    """When local VCEKs were given but none is the report's: say so (another chip or TCB)."""
    origins = sorted(
        {
            origin
            for (namespace, key), origin in collected.origins.items()
            if namespace == NAMESPACE and key.startswith("/vcek/") and "?" in key
        }
    )
    if not origins:
        return None
    return (
        f"the VCEK from {', '.join(origins)} is for another chip or TCB than {report} (a VCEK "
        "belongs to one CHIP_ID at one REPORTED_TCB): pass the VCEK of this report"
    )


def _reports(args: argparse.Namespace, bundles: list[EvidenceParts]) -> list[_Report]:
    """Each SEV-SNP report of --snp and of the evidence bundles, with the KDS requests it needs."""
    found: list[tuple[str, bytes, ProductLine | None]] = [
        (str(path), read_snp_evidence(read_input_file(path, "report")).report, None)
        for path in args.snp
    ]
    for parts in bundles:
        if parts.snp_report is not None:
            certified = parts.certificates.product if parts.certificates else None
            found.append((parts.name, parts.snp_report, certified))
    return [
        (subject, request)
        for subject, raw, certified in found
        for request in snp_requests(raw, subject, args.product, certified)
    ]


def _quotes(args: argparse.Namespace, bundles: list[EvidenceParts]) -> list[tuple[bytes, str]]:
    """The (FMSPC, PCK CA) pairs of the TDX quotes of --tdx and of the evidence bundles."""
    found = [
        (str(path), read_tdx_evidence(read_input_file(path, "quote")).quote) for path in args.tdx
    ]
    found += [(p.name, p.tdx_quote) for p in bundles if p.tdx_quote is not None]
    return sorted({tdx_request(quote, subject) for subject, quote in found})


def _seeds_label(bundles: list[EvidenceParts]) -> str:
    label = "the local files (--certs, --crl, --collateral)"
    if any(p.certificates is not None or p.tdx_collateral is not None for p in bundles):
        label += " and what the evidence bundles carry"
    return label


def export_command(args: argparse.Namespace) -> int:
    if not (
        args.snp
        or args.tdx
        or args.gpu
        or args.evidence
        or args.certs
        or args.crl
        or args.collateral
    ):
        raise UsageError(
            "nothing to export",
            hint="name reports with --snp REPORT, quotes with --tdx QUOTE, GPU evidence with "
            "--gpu EVIDENCE and Cairn evidence bundles with --evidence FILE|URL, or local "
            "files with --certs, --crl and --collateral",
        )
    at = parse_time(args.at)
    bundles: list[EvidenceParts] = []
    if args.evidence:
        from .evidence_export import read_evidence_bundles  # the bundle's models, when asked

        bundles = read_evidence_bundles(args.evidence)
    reports = _reports(args, bundles)
    requests = [request for _, request in reports]
    pairs = _quotes(args, bundles)
    collected = _seed(args, requests, bundles)
    seeds = build_bundle(collected.entries.values()) if collected.entries else None
    sources = collateral_sources(
        args,
        at=at,
        bundle_path=None,
        bundle=seeds,
        bundle_label=_seeds_label(bundles) if seeds else None,
    )
    if requests:
        with sources.kds(args.kds_url) as kds:
            for subject, request in reports:
                try:
                    fetched = kds.fetch(request)
                except CollateralUnavailableError as error:
                    if isinstance(request, VcekRequest):
                        error.hint = join_hints(_other_vceks(collected, subject), error.hint)
                    raise
                collected.add_found(fetched.to_bundle_entry(), fetched.source)
    if pairs:
        with sources.pcs(args.pccs) as pcs:
            missing: dict[str, str] = {}
            for document in pcs.documents_for(pairs, missing):
                collected.add_found(document.to_bundle_entry(), document.source)
            # A CRL the local files lack is already noted by them ("PCK CRL: not in …").
            noted = {note.split(" CRL")[0].split()[0] for note in collected.skipped}
            collected.skipped += [
                f"{label}: {reason}"
                for label, reason in missing.items()
                if label.split()[0] not in noted
            ]

    devices = [device for parts in bundles for device in parts.gpu_devices]
    if args.gpu or devices:
        from .gpu_export import export_gpu  # the GPU modules, only when asked

        gpu = export_gpu(args, devices)
        for entry, origin in gpu.entries:
            collected.add(entry, origin)
        collected.skipped += gpu.not_bundled
    collected.skipped += [note for parts in bundles for note in parts.not_bundled]
    bundle = export_bundle(collected.entries.values(), args.output, overwrite=args.force)
    rows = [
        {"entry": f"{e.namespace}:{e.key}", "from": collected.origins[(e.namespace, e.key)]}
        for e in bundle.entries
    ]
    doc = {
        "bundle": str(args.output),
        "entries": [row["entry"] for row in rows],
        "sources": rows,
        "not_bundled": collected.skipped,
    }
    lines = [f"wrote {len(rows)} entries to {args.output}:"]
    lines += [f"  {row['entry']}\n      from {row['from']}" for row in rows]
    if collected.skipped:
        lines.append("not bundled:")
        lines += [f"  {note}" for note in collected.skipped]
    return Output(args.json).document(doc, "\n".join(lines))


def import_command(args: argparse.Namespace) -> int:
    local = read_collateral(args.bundle, fetched_at=datetime.now(UTC))
    cache = CollateralCache(args.cache_dir or default_cache_dir())
    count = import_bundle(local.bundle(), cache)
    doc = {
        "bundle": str(args.bundle),
        "format": local.format,
        "imported": count,
        "entries": [f"{e.namespace}:{e.key}" for e in local.entries],
        "not_imported": local.skipped,
        "cache": str(cache.root),
    }
    text = f"imported {count} entries from {local.label} into {cache.root}"
    if local.skipped:
        text += "\nnot imported:\n" + "\n".join(f"  {note}" for note in local.skipped)
    return Output(args.json).document(doc, text)
