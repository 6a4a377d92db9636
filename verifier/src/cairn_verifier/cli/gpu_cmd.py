"""``cairn show gpu`` and ``cairn verify gpu``: their command lines.

The commands' bodies (:mod:`.gpu_run`, with the SPDM, RIM, lxml and signxml modules behind
them) are imported when a GPU command runs, so that ``cairn --version`` and the other commands
never load them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_json_option, add_verify_options

RIM_URL = "https://rim.attestation.nvidia.com/v1/rim"
"""NVIDIA's RIM service: the default of --rim-url (``gpu.collateral.RIM_SERVICE_URL``)."""
OCSP_URL = "https://ocsp.ndis.nvidia.com"
"""NVIDIA's OCSP service (the default of --ocsp-url)."""


def configure_show(show_gpu: argparse.ArgumentParser) -> None:
    show_gpu.description = (
        "Print every device's SPDM request, measurement blocks and opaque fields "
        "(driver, VBIOS, board, FWID) without verifying anything."
    )
    show_gpu.add_argument(
        "evidence", type=Path, help="GPU evidence in any format of docs/inputs.md ('-' = stdin)"
    )
    _certs_option(show_gpu)
    add_json_option(show_gpu)
    show_gpu.set_defaults(func=show_gpu_command)


def configure_verify(verify_gpu: argparse.ArgumentParser) -> None:
    verify_gpu.description = (
        "Verify NVIDIA GPU and NVSwitch attestation reports: the device chain to "
        "the pinned NVIDIA Device Identity CA, the report signature, the nonce, the FWID, "
        "revocation (OCSP, CRLs), the RIMs (XML signature, CoRIM chain) and the golden "
        "measurements, and the [gpu] policy."
    )
    verify_gpu.add_argument(
        "evidence", type=Path, help="GPU evidence in any format of docs/inputs.md"
    )
    _certs_option(verify_gpu)
    verify_gpu.add_argument(
        "--nonce",
        metavar="HEX",
        help="the 32-byte nonce the reports were requested with (default: freshness unchecked)",
    )
    add_gpu_collateral_options(verify_gpu)
    add_verify_options(verify_gpu)
    verify_gpu.set_defaults(func=verify_gpu_command)


def _certs_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--certs",
        type=Path,
        metavar="FILE",
        help="the device's certificate chain (PEM or DER, leaf first) for a bare report",
    )


def add_gpu_collateral_options(parser: argparse.ArgumentParser) -> None:
    """``cairn verify gpu``'s collateral: the files, ``--collateral`` and the services."""
    add_nvidia_files(parser, crl="--crl")
    parser.add_argument(
        "--collateral",
        type=Path,
        metavar="BUNDLE",
        help="a Cairn collateral bundle with RIMs, OCSP responses and CRLs "
        "(`cairn collateral export --gpu`)",
    )


def add_nvidia_files(parser: argparse.ArgumentParser, *, crl: str, prefix: str = "") -> None:
    """``--rim``, ``--rim-fetched-at``, ``--ocsp``, a CRL option named ``crl``, and the URLs
    of NVIDIA's services (``prefix`` starts each help text, e.g. ``GPU: ``)."""
    parser.add_argument(
        "--rim",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help=f"{prefix}an NVIDIA RIM (SWID XML), for the devices whose product and version it "
        "states (repeatable)",
    )
    parser.add_argument(
        "--rim-fetched-at",
        metavar="TIME",
        help=f"{prefix}when the --rim files were fetched from NVIDIA: their signer chain is "
        "verified as of then (default: the verification time; for an export: now)",
    )
    parser.add_argument(
        "--ocsp",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help=f"{prefix}a stored OCSP response (DER or base64) about a device or RIM "
        "certificate (repeatable)",
    )
    parser.add_argument(
        crl,
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help=f"{prefix}a CRL (DER or PEM) of an NVIDIA CA (repeatable)",
    )
    parser.add_argument(
        "--rim-url", default=RIM_URL, metavar="URL", help=f"{prefix}NVIDIA's RIM service"
    )
    parser.add_argument(
        "--ocsp-url", default=OCSP_URL, metavar="URL", help=f"{prefix}NVIDIA's OCSP service"
    )


def show_gpu_command(args: argparse.Namespace) -> int:
    from . import gpu_run  # only when a GPU command runs

    return gpu_run.show(args)


def verify_gpu_command(args: argparse.Namespace) -> int:
    from . import gpu_run  # only when a GPU command runs

    return gpu_run.verify(args)
