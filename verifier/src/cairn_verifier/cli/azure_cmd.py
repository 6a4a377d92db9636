"""``cairn verify azure``: an Azure confidential VM's vTPM evidence (SEV-SNP or TDX, detected
from the HCL report). The pipeline's modules are imported when the command runs."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from .common import (
    Output,
    add_verify_options,
    load_simulated_roots,
    parse_hex_option,
    parse_time,
    pick_simulated_root,
    read_input_file,
)

if TYPE_CHECKING:
    from ..azure.inputs import AzureInput
    from ..snp.certs import CertCollection

KDS_URL = "https://kdsintf.amd.com"
PCS_URL = "https://api.trustedservices.intel.com"
MAX_NONCE_BYTES = 64
"""A TPM2B_DATA holds at most 64 bytes (sizeof(TPMT_HA) with SHA-512, minus the algorithm)."""


def configure(azure: argparse.ArgumentParser) -> None:
    azure.description = (
        "Verify Azure confidential-VM evidence: the HCL report from the vTPM, the "
        "SEV-SNP report (VMPL 0) or TD quote it is bound to, REPORT_DATA = SHA-256 of the HCL "
        "runtime data, the vTPM quote signed by HCLAkPub with your nonce, its PCRs, and the "
        "[azure] policy on the VM configuration. SEV-SNP or TDX is read from the HCL report."
    )
    azure.add_argument(
        "evidence",
        type=Path,
        help="trustee's az-snp-vtpm / az-tdx-vtpm evidence JSON, or a bare HCL report (binary, "
        "from the vTPM NV index 0x01400001) with --tpm-quote ('-' = stdin)",
    )
    azure.add_argument(
        "--tpm-quote",
        type=Path,
        metavar="FILE",
        help="with a bare HCL report: the vTPM quote (trustee's quote JSON, or az-cvm-vtpm's "
        "quote.bin)",
    )
    azure.add_argument(
        "--td-quote",
        type=Path,
        metavar="FILE",
        help="with a bare TDX HCL report: the TD quote Azure's quote endpoint returned (any "
        "format `cairn verify tdx` reads)",
    )
    azure.add_argument(
        "--event-log",
        type=Path,
        metavar="FILE",
        help="the vTPM's TCG event log (binary_bios_measurements, raw or base64): replayed "
        "against the PCRs of the vTPM quote once HCLAkPub verified it (tpm-event-log); what it "
        "proves is in the claims' measured_boot",
    )
    azure.add_argument(
        "--nonce",
        metavar="HEX",
        help="the extraData the vTPM quote must carry (1 to 64 bytes as hex; trustee's tests "
        "use 6368616c6c656e6765, 'challenge'); without it freshness is not checked",
    )
    azure.add_argument(
        "--certs",
        type=Path,
        metavar="FILE|DIR",
        help="SEV-SNP: VCEK (+ ASK, ARK) when the evidence does not carry it",
    )
    azure.add_argument("--crl", type=Path, metavar="FILE", help="SEV-SNP: AMD CRL (DER or PEM)")
    azure.add_argument(
        "--collateral",
        type=Path,
        metavar="FILE|DIR",
        help="collateral: a Cairn bundle (SEV-SNP and TDX), or for TDX dcap-qvl JSON or a "
        "directory of PCS responses",
    )
    azure.add_argument("--kds-url", default=KDS_URL, metavar="URL", help="AMD KDS base URL")
    azure.add_argument(
        "--pccs", default=PCS_URL, metavar="URL", help="Intel PCS or a PCCS for TDX collateral"
    )
    add_verify_options(azure)
    azure.set_defaults(func=verify_azure_command)


def _nonce(text: str | None) -> bytes | None:
    if text is None:
        return None
    from ..errors import MalformedInputError

    raw = parse_hex_option(text, "--nonce")
    if len(raw) > MAX_NONCE_BYTES:
        raise MalformedInputError(
            f"--nonce is {len(raw)} bytes; a TPM quote's extraData holds at most {MAX_NONCE_BYTES}"
        )
    return raw


def _read(args: argparse.Namespace) -> AzureInput:
    from ..azure.inputs import read_azure_input

    def part(path: Path | None, what: str) -> tuple[bytes, str] | None:
        return None if path is None else (read_input_file(path, what), f"{what} {path}")

    return read_azure_input(
        read_input_file(args.evidence, "Azure evidence"),
        f"Azure evidence {args.evidence}",
        tpm_quote=part(args.tpm_quote, "vTPM quote"),
        td_quote=part(args.td_quote, "TD quote"),
    )


def _read_event_log(path: Path | None) -> bytes | None:
    """The vTPM's TCG log as raw bytes (base64 decoded); exit 10 before anything is verified
    when it cannot be read or is a TD's log (which extends RTMRs, not the vTPM's PCRs)."""
    if path is None:
        return None
    from ..errors import ParseError
    from ..eventlog import read_event_log
    from ..eventlog.read import binary_log

    data = read_input_file(path, "event log")
    log, form = read_event_log(data)
    if log.register_kind != "pcr":
        raise ParseError(
            f"{path} is a {form}: it extends a TD's RTMRs, not the vTPM's PCRs",
            component="event log",
            hint="give the vTPM's TCG log (/sys/kernel/security/tpm0/binary_bios_measurements); "
            "an Azure TD's CCEL belongs to the paravisor (see docs/cloud.md)",
        )
    return binary_log(data)


def _certificates(args: argparse.Namespace, vcek: bytes | None) -> CertCollection | None:
    from ..snp.certs import CertCollection, load_cert_collection

    certs = load_cert_collection(args.certs) if args.certs is not None else None
    if vcek is not None:
        certs = certs if certs is not None else CertCollection()
        certs.add_bytes(vcek, source=f"{args.evidence} (vcek)")
    return certs


def verify_azure_command(args: argparse.Namespace) -> int:
    from ..azure.hcl import HclReportType, parse_hcl_report
    from ..azure.verify import AzureVerifyRequest, verify_azure
    from ..errors import CairnError
    from ..policy_document import load_policy
    from ..tdx.quote import parse_quote
    from ..x509.cert import load_certificates
    from ..x509.crl import load_crl
    from .context import collateral_sources, tdx_collateral_option

    found = _read(args)
    evidence = found.evidence
    at = parse_time(args.at)
    nonce = _nonce(args.nonce)
    certs = _certificates(args, found.vcek)
    evidence = dataclasses.replace(
        evidence, certificates=certs, event_log=_read_event_log(args.event_log)
    )
    roots = load_simulated_roots(args.trust_simulated_root)
    try:
        tdx = parse_hcl_report(evidence.hcl_report).report_type is HclReportType.TDX
    except CairnError:
        tdx = False  # the pipeline reports the unreadable HCL report
    chain = []
    quote = None
    if tdx and evidence.td_quote is not None:
        try:
            quote = parse_quote(evidence.td_quote)
            chain = load_certificates(quote.certification.pck_cert_chain_pem) if roots else []
        except CairnError:
            quote = None  # the pipeline reports the unreadable quote
    elif certs is not None:
        chain = [c for c in (certs.ark, certs.ask) if c is not None]
    collateral, bundle_path = (
        tdx_collateral_option(args.collateral, quote) if tdx else (None, args.collateral)
    )
    sources = collateral_sources(args, at=at, bundle_path=bundle_path)
    crl = load_crl(read_input_file(args.crl, "CRL")) if args.crl else None
    with sources.pcs(args.pccs) as pcs:
        request = AzureVerifyRequest(
            at=at,
            policy=load_policy(args.policy),
            subject=f"{args.evidence} ({found.container})",
            crl=crl,
            kds=sources.kds(args.kds_url),
            tdx_collateral=collateral,
            fetch_tdx_collateral=pcs.fetch_collateral,
            nonce=nonce,
            trusted_root=pick_simulated_root(chain, roots),
        )
        result = verify_azure(evidence, request)
    return Output(args.json).result(dataclasses.replace(result, container=found.container))
