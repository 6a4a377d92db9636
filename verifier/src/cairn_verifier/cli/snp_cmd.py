"""``cairn show snp`` and ``cairn verify snp``."""

from __future__ import annotations

import argparse
import dataclasses
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MalformedInputError
from ..records import Record
from ..snp.product import ProductLine
from .common import (
    add_json_option,
    add_jsonl_option,
    add_report_data_option,
    add_verify_options,
    read_input_file,
)

if TYPE_CHECKING:
    from ..checks import VerificationResult
    from ..inputs import SnpEvidence
    from ..snp.certs import CertCollection
    from ..snp.default_policy import AnySnpPolicy
    from ..snp.kds import KdsClient
    from ..x509.cert import Certificate
    from ..x509.crl import Crl
    from .batch import Item


def product_argument(text: str) -> ProductLine:
    """argparse type for --product (argparse reports the error and the valid names)."""
    try:
        return ProductLine.parse(text)
    except MalformedInputError as error:
        raise argparse.ArgumentTypeError(error.message) from error


def configure_show(show_snp: argparse.ArgumentParser) -> None:
    show_snp.description = (
        "Print every field of an SEV-SNP attestation report without verifying it "
        "(parsed strictly: non-zero reserved bytes or an unknown version are malformed input)."
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


def configure_verify(verify_snp: argparse.ArgumentParser) -> None:
    verify_snp.description = (
        "Verify an AMD SEV-SNP attestation report: VCEK/VLEK chain to AMD's pinned "
        "ARK, report signature, TCB and chip binding, validity, revocation and policy."
    )
    verify_snp.add_argument(
        "report",
        type=Path,
        nargs="+",
        help="report file in any format of docs/inputs.md (binary, hex, …); several files or "
        "directories of them are verified in one run (docs/snp.md, Batch verification)",
    )
    add_jsonl_option(verify_snp, "report", '{"report": "<hex>"}')
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
    from ..inputs import read_snp_evidence

    return read_snp_evidence(read_input_file(path, "report"))


def _load_certs(path: Path | None) -> CertCollection | None:
    """--certs: a PEM/DER file, a directory, or Oak endorsements."""
    from ..inputs.snp_certs import oak_endorsements_certificate
    from ..snp.certs import CertCollection, load_cert_collection

    if path is None:
        return None
    oak = oak_endorsements_certificate(read_input_file(path, "certs")) if path.is_file() else None
    if oak is not None:
        kind, der = oak
        return CertCollection.from_bytes(der, source=f"{path} (Oak endorsements, {kind})")
    return load_cert_collection(path)


class _Verifier(Record):
    """What ``verify snp`` takes from its options, read once for every report it verifies."""

    args: argparse.Namespace
    at: datetime
    certs: CertCollection | None
    roots: tuple[Certificate, ...]
    crl: Crl | None
    kds: KdsClient
    policy: AnySnpPolicy
    report_data: bytes | None

    __slots__ = ("args", "at", "certs", "crl", "kds", "policy", "report_data", "roots")

    def __init__(  # noqa: PLR0917
        self,
        args: argparse.Namespace,
        at: datetime,
        certs: CertCollection | None,
        roots: tuple[Certificate, ...],
        crl: Crl | None,
        kds: KdsClient,
        policy: AnySnpPolicy,
        report_data: bytes | None,
    ) -> None:
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "certs", certs)
        object.__setattr__(self, "roots", roots)
        object.__setattr__(self, "crl", crl)
        object.__setattr__(self, "kds", kds)
        object.__setattr__(self, "policy", policy)
        object.__setattr__(self, "report_data", report_data)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> _Verifier:
        from ..x509.crl import load_crl
        from .common import load_simulated_roots, load_snp_policy, parse_report_data, parse_time
        from .context import collateral_sources

        at = parse_time(args.at)
        certs = _load_certs(args.certs)
        roots = load_simulated_roots(args.trust_simulated_root)
        crl = load_crl(read_input_file(args.crl, "CRL")) if args.crl else None
        sources = collateral_sources(args, at=at, bundle_path=args.collateral)
        policy = load_snp_policy(args.policy)
        if args.reference_values:
            from ..policy_document import load_policy
            from ..snp.reference_values import load_reference_values, merge_into

            policy = merge_into(
                load_policy(args.policy).snp, load_reference_values(args.reference_values)
            )
        kds = sources.kds(args.kds_url)
        return cls(args, at, certs, roots, crl, kds, policy, parse_report_data(args.report_data))

    def verify(self, evidence: SnpEvidence, label: str) -> VerificationResult:
        from ..inputs.snp_certs import with_evidence_certificates
        from ..snp.verify import SnpVerifyRequest, verify_snp_report
        from .common import pick_simulated_root

        own = self.certs
        if own is not None and evidence.certificates:  # merged into a copy, never into ours
            own = dataclasses.replace(own)
        certs = with_evidence_certificates(own, evidence, label)
        supplied = [c for c in (certs.ark, certs.ask) if c is not None] if certs is not None else []
        request = SnpVerifyRequest(
            at=self.at,
            policy=self.policy,
            certs=certs,
            crl=self.crl,
            kds=self.kds,
            product=self.args.product,
            report_data=self.report_data,
            subject=f"{label} ({evidence.container})",
            trusted_root=pick_simulated_root(supplied, self.roots),
        )
        result = verify_snp_report(evidence.report, request)
        warnings = result.warnings
        if "azure-hcl" in evidence.formats:
            warnings = (AZURE_HCL_WARNING, *warnings)
        return dataclasses.replace(result, container=evidence.container, warnings=warnings)


AZURE_HCL_WARNING = (
    "this SEV-SNP report comes from an Azure HCL report: its REPORT_DATA is SHA-256 of the "
    "paravisor's runtime data, not a nonce of yours, and only the SEV-SNP report was checked "
    "here, not the vTPM key it binds nor a vTPM quote (verify the whole evidence with "
    "`cairn verify azure`, docs/cloud.md)"
)


def show_snp_command(args: argparse.Namespace) -> int:
    from ..snp.report import parse_report
    from .common import Output
    from .show_document import ShowDocument
    from .snp_render import report_sections, report_to_json

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
    from ..inputs import read_snp_evidence
    from . import batch
    from .common import Output

    items, many = batch.expand(args.report, "report", jsonl=args.jsonl)
    if not many:
        assert items is not None
        (item,) = items
        evidence = read_snp_evidence(item.read())  # the report first, as it always was
        result = _Verifier.from_args(args).verify(evidence, item.label)
        return Output(args.json).result(result)
    verifier = _Verifier.from_args(args)

    def verify(item: Item) -> VerificationResult:
        return verifier.verify(read_snp_evidence(item.read()), item.label)

    return batch.run(items, verify, as_json=args.json)
