"""``cairn show tdx`` and ``cairn verify tdx``."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from ..tdx.pcs import PCS_BASE_URL
from .common import (
    add_json_option,
    add_jsonl_option,
    add_report_data_option,
    add_verify_options,
    read_input_file,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..checks import VerificationResult
    from ..eventlog import EventLog
    from ..inputs import TdxEvidence
    from .batch import Item


def configure_show(show_tdx: argparse.ArgumentParser) -> None:
    show_tdx.description = (
        "Print every field of an Intel TDX DCAP quote (v4 or v5) without verifying "
        "it, TD attributes and XFAM decoded, and summarise its PCK certificate chain."
    )
    show_tdx.add_argument(
        "quote",
        type=Path,
        help="quote file in any format of docs/inputs.md (binary, hex, …; '-' = stdin)",
    )
    add_json_option(show_tdx)
    show_tdx.set_defaults(func=show_tdx_command)


def configure_verify(verify_tdx: argparse.ArgumentParser) -> None:
    verify_tdx.description = (
        "Verify an Intel TDX quote as Intel's QVL does (PCK chain to the pinned "
        "Intel SGX Root CA, QE report, quote signature, collateral, CRLs, TCB status), then "
        "apply the policy (TD attributes, measurements, REPORTDATA)."
    )
    verify_tdx.add_argument(
        "quote",
        type=Path,
        nargs="+",
        help="quote file in any format of docs/inputs.md (binary, hex, …); several files or "
        "directories of them are verified in one run (docs/tdx.md, Batch verification)",
    )
    add_jsonl_option(verify_tdx, "quote", '{"quote": "<hex>"}')
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
    verify_tdx.add_argument(
        "--event-log",
        type=Path,
        metavar="FILE",
        help="the TD's event log (a CCEL, raw or base64, or dstack's JSON event log or GetQuote "
        "answer): replayed against the verified quote's RTMRs (check rtmr-event-log; "
        "docs/eventlog.md); one quote only",
    )
    add_report_data_option(verify_tdx)
    add_verify_options(verify_tdx)
    verify_tdx.set_defaults(func=verify_tdx_command)


def _read_quote(path: Path) -> TdxEvidence:
    """The quote in any accepted input format (docs/inputs.md), parsed."""
    from ..inputs import read_tdx_evidence

    return read_tdx_evidence(read_input_file(path, "quote"))


def show_tdx_command(args: argparse.Namespace) -> int:
    from ..x509.cert import load_certificates
    from .common import Output
    from .show_document import ShowDocument
    from .tdx_render import quote_sections, quote_to_json

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
    from . import batch

    items, many = batch.expand(args.quote, "quote", jsonl=args.jsonl)
    if many and args.event_log is not None:
        from ..errors import UsageError

        raise UsageError(
            "--event-log belongs to one quote: it cannot be used with several quotes",
            hint="verify the quote of that log on its own",
        )
    if many:
        return _verify_batch(args, items)
    assert items is not None
    (item,) = items
    return _verify_one(args, item)


def _read_event_log(path: Path | None) -> EventLog | None:
    """The TD's event log, read strictly (exit 10 when it cannot be read or is a TPM's)."""
    if path is None:
        return None
    from ..errors import ParseError
    from ..eventlog import read_event_log

    log, form = read_event_log(read_input_file(path, "event log"))
    if log.register_kind != "rtmr":
        raise ParseError(
            f"{path} is a {form}: it extends TPM PCRs, not a TD's RTMRs",
            component="TD event log",
            hint="pass the TD's CCEL (/sys/firmware/acpi/tables/data/CCEL) or dstack's event "
            "log; a TPM's log is checked by cairn verify evidence or cairn verify azure "
            "--event-log (tpm-event-log)",
        )
    return log


def _verify_one(args: argparse.Namespace, item: Item) -> int:
    from ..inputs import read_tdx_evidence
    from ..tdx.verify import TdxVerifyRequest, verify_tdx_quote
    from ..x509.cert import load_certificates
    from .common import (
        Output,
        load_simulated_roots,
        load_tdx_policy,
        parse_report_data,
        parse_time,
        pick_simulated_root,
    )
    from .context import collateral_sources, tdx_collateral_option

    evidence = read_tdx_evidence(item.read())
    quote = evidence.quote
    event_log = _read_event_log(args.event_log)
    at = parse_time(args.at)
    roots = load_simulated_roots(args.trust_simulated_root)
    chain = load_certificates(quote.certification.pck_cert_chain_pem) if roots else []
    collateral, bundle_path = tdx_collateral_option(args.collateral, quote)
    sources = collateral_sources(args, at=at, bundle_path=bundle_path)
    with sources.pcs(args.pccs) as pcs:
        request = TdxVerifyRequest(
            at=at,
            policy=load_tdx_policy(args.policy),
            collateral=collateral,
            fetch_collateral=pcs.fetch_collateral,
            report_data=parse_report_data(args.report_data),
            subject=f"{item.label} ({evidence.container})",
            trusted_root=pick_simulated_root(chain, roots),
            event_log=event_log,
        )
        result = verify_tdx_quote(quote, request)
        return Output(args.json).result(dataclasses.replace(result, container=evidence.container))


def _verify_batch(args: argparse.Namespace, items: list[Item] | None) -> int:
    """Many quotes: the options are read once; collateral files given with --collateral once
    per PCK certificate chain (the quotes of one platform share it). A bundle, the cache and the
    network are asked for each quote, as in a single run (fetched collateral is not replayed)."""
    from ..inputs import read_tdx_evidence
    from ..tdx.collateral import TdxCollateral
    from ..tdx.verify import TdxVerifyRequest, verify_tdx_quote
    from ..x509.cert import load_certificates
    from . import batch
    from .common import (
        load_simulated_roots,
        load_tdx_policy,
        parse_report_data,
        parse_time,
        pick_simulated_root,
    )
    from .context import collateral_sources, tdx_collateral_option

    at = parse_time(args.at)
    roots = load_simulated_roots(args.trust_simulated_root)
    policy = load_tdx_policy(args.policy)
    report_data = parse_report_data(args.report_data)
    collaterals: dict[bytes, TdxCollateral | None] = {}
    bundle_path = None
    if args.collateral is not None:
        from .collateral_files import is_collateral_bundle

        bundle_path = args.collateral if is_collateral_bundle(args.collateral) else None
    sources = collateral_sources(args, at=at, bundle_path=bundle_path)
    with sources.pcs(args.pccs) as pcs:
        fetch: Callable[[bytes, str], TdxCollateral] = pcs.fetch_collateral

        def verify(item: Item) -> VerificationResult:
            evidence = read_tdx_evidence(item.read())
            quote = evidence.quote
            pck_chain = quote.certification.pck_cert_chain_pem
            if pck_chain not in collaterals:
                collaterals[pck_chain] = tdx_collateral_option(args.collateral, quote)[0]
            chain = load_certificates(pck_chain) if roots else []
            request = TdxVerifyRequest(
                at=at,
                policy=policy,
                collateral=collaterals[pck_chain],
                fetch_collateral=fetch,
                report_data=report_data,
                subject=f"{item.label} ({evidence.container})",
                trusted_root=pick_simulated_root(chain, roots),
            )
            result = verify_tdx_quote(quote, request)
            return dataclasses.replace(result, container=evidence.container)

        return batch.run(items, verify, as_json=args.json)
