"""``cairn show snp`` and ``cairn verify snp``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from ..errors import MalformedInputError
from ..inputs import SnpEvidence, read_snp_evidence
from ..inputs.snp_certs import oak_endorsements_certificate, with_evidence_certificates
from ..policy_document import load_policy
from ..snp.certs import CertCollection, load_cert_collection
from ..snp.product import ProductLine
from ..snp.reference_values import load_reference_values, merge_into
from ..snp.report import parse_report
from ..snp.verify import SnpVerifyRequest, verify_snp_report
from ..x509.crl import load_crl
from .common import (
    Output,
    add_json_option,
    add_report_data_option,
    add_verify_options,
    load_simulated_roots,
    parse_report_data,
    parse_time,
    pick_simulated_root,
    read_input_file,
)
from .context import collateral_sources
from .show_document import ShowDocument
from .snp_render import report_sections, report_to_json


def product_argument(text: str) -> ProductLine:
    """argparse type for --product (argparse reports the error and the valid names)."""
    try:
        return ProductLine.parse(text)
    except MalformedInputError as error:
        raise argparse.ArgumentTypeError(error.message) from error


def register(show: Any, verify: Any) -> None:
    show_snp = show.add_parser(
        "snp",
        help="decode an SEV-SNP attestation report",
        description="Print every field of an SEV-SNP attestation report without verifying it "
        "(parsed strictly: non-zero reserved bytes or an unknown version are malformed input).",
    )
    show_snp.add_argument(
        "report",
        type=Path,
        help="report file in any format of docs/inputs.md (binary, hex, …; '-' = stdin)",
    )
    show_snp.add_argument(
        "--product",
        type=product_argument,
        metavar="P",
        help="Milan, Genoa or Turin: the TCB layout of a version 2 report (default: from CPUID)",
    )
    add_json_option(show_snp)
    show_snp.set_defaults(func=show_snp_command)

    verify_snp = verify.add_parser(
        "snp",
        help="verify an SEV-SNP attestation report",
        description="Verify an AMD SEV-SNP attestation report: VCEK/VLEK chain to AMD's pinned "
        "ARK, report signature, TCB and chip binding, validity, revocation and policy.",
    )
    verify_snp.add_argument(
        "report", type=Path, help="report file in any format of docs/inputs.md (binary, hex, …)"
    )
    verify_snp.add_argument(
        "--certs",
        type=Path,
        metavar="FILE|DIR",
        help="VCEK/VLEK (+ ASK/ASVK, ARK, CRL): PEM bundle, DER file, snpguest directory or "
        "Oak endorsements protobuf",
    )
    verify_snp.add_argument("--crl", type=Path, metavar="FILE", help="AMD CRL (DER or PEM)")
    verify_snp.add_argument(
        "--product", type=product_argument, metavar="P", help="Milan, Genoa or Turin"
    )
    verify_snp.add_argument(
        "--collateral", type=Path, metavar="BUNDLE", help="offline collateral bundle (JSON)"
    )
    verify_snp.add_argument(
        "--reference-values",
        type=Path,
        metavar="FILE",
        help="add the launch measurements of a reference-values file to the policy",
    )
    verify_snp.add_argument(
        "--kds-url", default="https://kdsintf.amd.com", help="AMD KDS base URL (or a mirror)"
    )
    add_report_data_option(verify_snp)
    add_verify_options(verify_snp)
    verify_snp.set_defaults(func=verify_snp_command)


def _read_report(path: Path) -> SnpEvidence:
    """The report in any accepted input format (docs/inputs.md)."""
    return read_snp_evidence(read_input_file(path, "report"))


def _read_certs(path: Path | None, evidence: SnpEvidence, report: Path) -> CertCollection | None:
    """--certs (a PEM/DER file, a directory, or Oak endorsements) plus the report's own table."""
    certs = None
    if path is not None:
        oak = (
            oak_endorsements_certificate(read_input_file(path, "certs")) if path.is_file() else None
        )
        if oak is not None:
            kind, der = oak
            certs = CertCollection.from_bytes(der, source=f"{path} (Oak endorsements, {kind})")
        else:
            certs = load_cert_collection(path)
    return with_evidence_certificates(certs, evidence, str(report))


def show_snp_command(args: argparse.Namespace) -> int:
    evidence = _read_report(args.report)
    report = parse_report(evidence.report, product=args.product)
    shown = ShowDocument(
        kind="SEV-SNP attestation report",
        source=str(args.report),
        container=evidence.container,
        command="snp",
        fields=report_to_json(report),
        sections=report_sections(report),
    )
    return Output(args.json).document(shown.to_json(), shown.render_text())


def verify_snp_command(args: argparse.Namespace) -> int:
    evidence = _read_report(args.report)
    raw, container = evidence.report, evidence.container
    at = parse_time(args.at)
    certs = _read_certs(args.certs, evidence, args.report)
    roots = load_simulated_roots(args.trust_simulated_root)
    supplied = [c for c in (certs.ark, certs.ask) if c is not None] if certs else []
    crl = load_crl(read_input_file(args.crl, "CRL")) if args.crl else None
    sources = collateral_sources(args, at=at, bundle_path=args.collateral)
    policy = load_policy(args.policy).snp
    if args.reference_values:
        policy = merge_into(policy, load_reference_values(args.reference_values))
    request = SnpVerifyRequest(
        at=at,
        policy=policy,
        certs=certs,
        crl=crl,
        kds=sources.kds(args.kds_url),
        product=args.product,
        report_data=parse_report_data(args.report_data),
        subject=f"{args.report} ({container})",
        trusted_root=pick_simulated_root(supplied, roots),
    )
    result = verify_snp_report(raw, request)
    return Output(args.json).result(dataclasses.replace(result, container=container))
