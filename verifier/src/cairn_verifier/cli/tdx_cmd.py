"""``cairn show tdx`` and ``cairn verify tdx``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from ..inputs import TdxEvidence, read_tdx_evidence
from ..policy_document import load_policy
from ..tdx.pcs import PCS_BASE_URL
from ..tdx.verify import TdxVerifyRequest, verify_tdx_quote
from ..x509.cert import load_certificates
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
from .context import collateral_sources, tdx_collateral_option
from .show_document import ShowDocument
from .tdx_render import quote_sections, quote_to_json


def register(show: Any, verify: Any) -> None:
    show_tdx = show.add_parser(
        "tdx",
        help="decode an Intel TDX DCAP quote",
        description="Print every field of an Intel TDX DCAP quote (v4 or v5) without verifying "
        "it, TD attributes and XFAM decoded, and summarise its PCK certificate chain.",
    )
    show_tdx.add_argument(
        "quote",
        type=Path,
        help="quote file in any format of docs/inputs.md (binary, hex, …; '-' = stdin)",
    )
    add_json_option(show_tdx)
    show_tdx.set_defaults(func=show_tdx_command)

    verify_tdx = verify.add_parser(
        "tdx",
        help="verify an Intel TDX DCAP quote",
        description="Verify an Intel TDX quote as Intel's QVL does (PCK chain to the pinned "
        "Intel SGX Root CA, QE report, quote signature, collateral, CRLs, TCB status), then "
        "apply the policy (TD attributes, measurements, REPORTDATA).",
    )
    verify_tdx.add_argument(
        "quote", type=Path, help="quote file in any format of docs/inputs.md (binary, hex, …)"
    )
    verify_tdx.add_argument(
        "--collateral",
        type=Path,
        metavar="FILE|DIR",
        help="collateral: a Cairn bundle, a dcap-qvl JSON file or a directory of PCS responses",
    )
    verify_tdx.add_argument(
        "--pccs",
        default=PCS_BASE_URL,
        metavar="URL",
        help="Intel PCS or a PCCS / cloud cache to fetch collateral from (default: Intel PCS)",
    )
    add_report_data_option(verify_tdx)
    add_verify_options(verify_tdx)
    verify_tdx.set_defaults(func=verify_tdx_command)


def _read_quote(path: Path) -> TdxEvidence:
    """The quote in any accepted input format (docs/inputs.md), parsed."""
    return read_tdx_evidence(read_input_file(path, "quote"))


def show_tdx_command(args: argparse.Namespace) -> int:
    evidence = _read_quote(args.quote)
    quote = evidence.quote
    shown = ShowDocument(
        kind="Intel TDX quote",
        source=str(args.quote),
        container=evidence.container,
        command="tdx",
        fields=quote_to_json(quote),
        sections=quote_sections(quote),
        certificates=tuple(load_certificates(quote.certification.pck_cert_chain_pem)),
    )
    return Output(args.json).document(shown.to_json(), shown.render_text())


def verify_tdx_command(args: argparse.Namespace) -> int:
    evidence = _read_quote(args.quote)
    quote = evidence.quote
    at = parse_time(args.at)
    roots = load_simulated_roots(args.trust_simulated_root)
    chain = load_certificates(quote.certification.pck_cert_chain_pem) if roots else []
    collateral, bundle_path = tdx_collateral_option(args.collateral, quote)
    sources = collateral_sources(args, at=at, bundle_path=bundle_path)
    with sources.pcs(args.pccs) as pcs:
        request = TdxVerifyRequest(
            at=at,
            policy=load_policy(args.policy).tdx,
            collateral=collateral,
            fetch_collateral=pcs.fetch_collateral,
            report_data=parse_report_data(args.report_data),
            subject=f"{args.quote} ({evidence.container})",
            trusted_root=pick_simulated_root(chain, roots),
        )
        result = verify_tdx_quote(quote, request)
        return Output(args.json).result(dataclasses.replace(result, container=evidence.container))
