"""Options of commands that verify an evidence bundle file before using it (zk, response)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from ..tdx.pcs import PCS_BASE_URL
from .common import add_verify_options

KDS_URL = "https://kdsintf.amd.com"


def add_evidence_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``--evidence FILE --nonce HEX``, the collateral sources and every verify option."""
    parser.add_argument(
        "--evidence",
        type=Path,
        required=required,
        metavar="FILE",
        help="the evidence bundle (e.g. saved by `cairn verify evidence URL -o FILE`); it is "
        "verified in full (TEE, chain, TPM quote, claims, policy) before it is used",
    )
    parser.add_argument(
        "--nonce",
        metavar="HEX",
        required=required,
        help="the 32-byte nonce the evidence was requested with (64 hex digits): freshness",
    )
    parser.add_argument(
        "--kds-url",
        default=KDS_URL,
        metavar="URL",
        help=f"AMD KDS for SEV-SNP certificates and CRLs (default: {KDS_URL})",
    )
    parser.add_argument(
        "--pccs",
        default=PCS_BASE_URL,
        metavar="URL",
        help="Intel PCS or a PCCS for TDX collateral (default: Intel PCS)",
    )
    parser.add_argument(
        "--collateral",
        type=Path,
        metavar="FILE|DIR",
        help="TDX collateral: a Cairn bundle, a dcap-qvl JSON file or a directory of PCS "
        "responses (e.g. what a simulated agent exported)",
    )
    add_verify_options(parser)


EVIDENCE_ONLY = (
    ("nonce", "--nonce"),
    ("policy", "--policy"),
    ("trust_simulated_root", "--trust-simulated-root"),
    ("collateral", "--collateral"),
)


def refuse_evidence_only_options(args: argparse.Namespace, without: str) -> None:
    """A UsageError if an option that only applies to ``--evidence`` was given without it."""
    given = [flag for name, flag in EVIDENCE_ONLY if getattr(args, name, None) is not None]
    if given:
        raise UsageError(
            f"{', '.join(given)} only apply with --evidence (not with {without})",
            hint="drop them, or verify against an evidence bundle with --evidence FILE",
        )
