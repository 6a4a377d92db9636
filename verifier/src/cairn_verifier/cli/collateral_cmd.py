"""``cairn collateral export|import``: carry collateral to machines without network access.

``export`` fetches (cache → network) everything the given evidence needs — for SEV-SNP reports
the VCEK at REPORTED_TCB and the CRL (ASK/ASVK and ARK are pinned); for TDX quotes the TCB info of
the PCK's FMSPC, the QE identity, the PCK and Root CA CRLs — and writes one JSON bundle;
``import`` loads a bundle into the local cache. ``cairn verify … --collateral BUNDLE``
uses a bundle directly.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..collateral.bundle import export_bundle, import_bundle, load_bundle
from ..collateral.cache import CollateralCache, default_cache_dir
from ..encoding import decode_blob, extract_snp_report
from ..errors import MalformedInputError
from ..snp.kds import CertKind, CrlRequest, KdsRequest, VcekRequest
from ..snp.product import ProductLine
from ..snp.report import SigningKey, peek_signing_fields
from ..snp.tcb import TcbVersion
from ..tdx.pck import SGX_EXTENSIONS_OID, SgxExtensions, pck_ca_kind
from ..tdx.pcs import PCS_BASE_URL
from ..tdx.quote import parse_quote
from ..x509.cert import load_certificates
from .common import Output, add_json_option, read_input_file
from .context import collateral_sources
from .snp_cmd import product_argument


def register(commands: Any) -> None:
    group = commands.add_parser(
        "collateral",
        help="export/import offline collateral bundles",
        description="Carry collateral (VCEKs, CRLs, TDX TCB info, QE identity) to machines "
        "without network access: export a bundle where the network is; where it is not, "
        "import it or pass it to `cairn verify … --collateral`.",
    )
    sub = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    export = sub.add_parser(
        "export",
        help="write a bundle with what the given reports need",
        description="Fetch (cache, then network) everything verifying the given SEV-SNP reports "
        "and TDX quotes needs, and write it to one JSON bundle.",
    )
    export.add_argument(
        "--snp",
        type=Path,
        action="append",
        default=[],
        metavar="REPORT",
        help="an SEV-SNP report whose VCEK and CRL to export (repeatable)",
    )
    export.add_argument(
        "--tdx",
        type=Path,
        action="append",
        default=[],
        metavar="QUOTE",
        help="a TDX quote whose TCB info, QE identity and CRLs to export (repeatable)",
    )
    export.add_argument(
        "--product",
        type=product_argument,
        metavar="P",
        help="Milan, Genoa or Turin: needed for version 2 SEV-SNP reports",
    )
    export.add_argument(
        "-o", "--output", type=Path, required=True, metavar="BUNDLE", help="bundle file to write"
    )
    export.add_argument("--force", action="store_true", help="replace an existing bundle file")
    export.add_argument(
        "--kds-url",
        default="https://kdsintf.amd.com",
        metavar="URL",
        help="AMD KDS base URL (or a mirror)",
    )
    export.add_argument(
        "--pccs",
        default=PCS_BASE_URL,
        metavar="URL",
        help="Intel PCS or a PCCS / cloud cache (default: Intel PCS)",
    )
    export.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="collateral cache directory (default: $XDG_CACHE_HOME/cairn)",
    )
    export.add_argument("--offline", action="store_true", help="export from the cache only")
    add_json_option(export)
    export.set_defaults(func=export_command, no_cache=False)

    imp = sub.add_parser(
        "import",
        help="load a bundle into the local collateral cache",
        description="Copy every entry of a collateral bundle into the local cache, so that "
        "`cairn verify … --offline` finds it without naming the bundle.",
    )
    imp.add_argument("bundle", type=Path, help="a bundle from `cairn collateral export`")
    imp.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="collateral cache directory (default: $XDG_CACHE_HOME/cairn)",
    )
    add_json_option(imp)
    imp.set_defaults(func=import_command)


def snp_requests(path: Path, product: ProductLine | None) -> list[KdsRequest]:
    """What verifying the report at ``path`` needs from AMD KDS."""
    raw, _ = extract_snp_report(decode_blob(read_input_file(path, "report"), what="report"))
    peek = peek_signing_fields(raw)
    chosen = product or peek.product_from_cpuid
    if chosen is None:
        raise MalformedInputError(
            f"{path}: cannot tell the product line of a v2 report", hint="pass --product"
        )
    kind: CertKind = "vlek" if peek.signing_key is SigningKey.VLEK else "vcek"
    requests: list[KdsRequest] = [CrlRequest(chosen.value, kind)]
    if kind == "vcek":
        tcb = TcbVersion.decode(peek.reported_tcb, chosen).components()
        requests.append(VcekRequest(chosen.value, peek.chip_id, tcb))
    return requests


def tdx_request(path: Path) -> tuple[bytes, str]:
    """The (FMSPC, PCK CA) whose collateral verifying the quote at ``path`` needs."""
    quote = parse_quote(decode_blob(read_input_file(path, "quote"), what="TDX quote"))
    leaf, ca = load_certificates(quote.certification.pck_cert_chain_pem)[:2]
    extension = leaf.extensions.get(SGX_EXTENSIONS_OID)
    if extension is None:
        raise MalformedInputError(f"{path}: the PCK certificate lacks Intel's SGX extensions")
    return SgxExtensions.parse(extension.value).fmspc, pck_ca_kind(ca.subject.common_name)


def export_command(args: argparse.Namespace) -> int:
    if not args.snp and not args.tdx:
        raise MalformedInputError(
            "nothing to export", hint="name reports with --snp REPORT and quotes with --tdx QUOTE"
        )
    sources = collateral_sources(args, at=datetime.now(UTC), bundle_path=None)
    entries = []
    if args.snp:
        requests = [r for path in args.snp for r in snp_requests(path, args.product)]
        with sources.kds(args.kds_url) as kds:
            entries += kds.export_for(requests)
    if args.tdx:
        pairs = sorted({tdx_request(path) for path in args.tdx})
        with sources.pcs(args.pccs) as pcs:
            entries += pcs.export_for(pairs)
    bundle = export_bundle(entries, args.output, overwrite=args.force)
    keys = [f"{e.namespace}:{e.key}" for e in bundle.entries]
    doc = {"bundle": str(args.output), "entries": keys}
    text = f"wrote {len(keys)} entries to {args.output}:\n" + "\n".join(f"  {k}" for k in keys)
    return Output(args.json).document(doc, text)


def import_command(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    cache = CollateralCache(args.cache_dir or default_cache_dir())
    count = import_bundle(bundle, cache)
    doc = {"bundle": str(args.bundle), "imported": count, "cache": str(cache.root)}
    return Output(args.json).document(doc, f"imported {count} entries into {cache.root}")
