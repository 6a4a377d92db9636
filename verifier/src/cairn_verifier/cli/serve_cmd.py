"""``cairn serve``: the verifier and key broker as a service (docs/serve.md).

Only the arguments are declared here; the service itself (aiohttp, joserfc, a database driver)
is imported by name when a ``serve`` command runs, so ``cairn --version`` and every other
command start without it.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import ModuleType

from ..errors import SetupError

SERVE_EXTRA = "the serve extra: pip install 'cairn-verifier[serve]' (aiohttp, joserfc, psycopg)"


def _service() -> ModuleType:
    try:
        return importlib.import_module("cairn_verifier.serve.main")
    except ModuleNotFoundError as exc:
        raise SetupError(
            f"cairn serve needs {exc.name}, which is not installed", hint=f"install {SERVE_EXTRA}"
        ) from None


def _run(args: argparse.Namespace) -> int:
    if args.config is None:
        raise SetupError("cairn serve needs --config FILE", hint="see docs/serve.md")
    result: int = _service().serve_command(args.config)
    return result


def _audit_verify(args: argparse.Namespace) -> int:
    result: int = _service().audit_verify_command(args.config, as_json=args.json)
    return result


def _keygen(args: argparse.Namespace) -> int:
    result: int = _service().keygen_command(args.output)
    return result


def configure(serve: argparse.ArgumentParser) -> None:
    serve.description = (
        "Serve the attestation API (challenge, attest, resources, admin; "
        "docs/serve.md) from a configuration file; `cairn serve audit verify` checks the audit "
        "log's hash chain, `cairn serve keygen` writes an EAR signing key."
    )
    serve.add_argument(
        "--config", type=Path, metavar="FILE", help="the service's TOML configuration"
    )
    serve.set_defaults(func=_run)
    sub = serve.add_subparsers(dest="serve_command", metavar="COMMAND")
    audit = sub.add_parser(
        "audit",
        help="the audit log",
        description="Commands on the broker's hash-chained audit log (docs/serve.md).",
    ).add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    verify = audit.add_parser(
        "verify",
        help="check the audit log's hash chain (exit 0 intact, 1 broken)",
        description="Read every audit entry from the configured database and check sequence "
        "numbers, links, hashes and the head; exit 1 and name each problem if the chain is "
        "broken.",
    )
    verify.add_argument(
        "--config",
        type=Path,
        required=True,
        metavar="FILE",
        help="the service's TOML configuration",
    )
    verify.add_argument("--json", action="store_true", help="print one JSON document")
    verify.set_defaults(func=_audit_verify)
    keygen = sub.add_parser(
        "keygen",
        help="write a new P-256 key for signing attestation results (never overwrites)",
        description="Write a new ES256 (P-256) private key, PEM, mode 0600, for signing.key.",
    )
    keygen.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE", help="the key file to create"
    )
    keygen.set_defaults(func=_keygen)
