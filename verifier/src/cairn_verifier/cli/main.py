"""Entry point of the ``cairn`` command: argument parsing and error-to-exit-code mapping."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from .. import __version__
from ..errors import CairnError, ExitCode
from . import (
    collateral_cmd,
    evidence_cmd,
    reference_cmd,
    response_cmd,
    snp_cmd,
    tdx_cmd,
    zk_cmd,
)
from .render import error_document, internal_error_document, render_error_text

Handler = Callable[[argparse.Namespace], int]

EPILOG = """exit codes:
  0 verified            1 content mismatch      2 signature invalid
  3 chain untrusted, expired or revoked         4 policy rejection
  5 collateral unavailable                      6 evidence unavailable (agent)
  10 malformed input                            64 usage or setup error
  70 internal error (please report it)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cairn",
        description="Verify confidential-VM attestation evidence and explain every check.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cairn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    show = commands.add_parser("show", help="decode and print evidence").add_subparsers(
        dest="what", required=True, metavar="KIND"
    )
    verify = commands.add_parser(
        "verify",
        help="verify evidence",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).add_subparsers(dest="what", required=True, metavar="KIND")
    snp_cmd.register(show, verify)
    tdx_cmd.register(show, verify)
    evidence_cmd.register(verify, commands)
    response_cmd.register(verify)
    collateral_cmd.register(commands)
    reference_cmd.register(commands)
    zk_cmd.register(commands)
    return parser


def _wants_json(argv: Sequence[str]) -> bool:
    return "--json" in argv


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cairn``; return the exit code (typed errors map to their documented codes)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse prints its own usage message
        code = exc.code if isinstance(exc.code, int) else 2
        return 0 if code == 0 else int(ExitCode.USAGE_OR_SETUP)
    handler: Handler = args.func
    try:
        return handler(args)
    except CairnError as error:
        if _wants_json(args_list):
            print(json.dumps(error_document(error), indent=2))
        else:
            print(render_error_text(error), file=sys.stderr)
        return int(error.exit_code)
    except BrokenPipeError:  # e.g. `cairn show snp r.bin | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so plainly, keep the traceback for CAIRN_DEBUG
        message = f"unexpected {type(exc).__name__}: {exc}"
        if os.environ.get("CAIRN_DEBUG"):
            traceback.print_exc()
        if _wants_json(args_list):
            print(json.dumps(internal_error_document(message), indent=2))
        else:
            print(
                f"internal error: {message}\n"
                "This is a bug in Cairn. Re-run with CAIRN_DEBUG=1 for details and report it.",
                file=sys.stderr,
            )
        return int(ExitCode.INTERNAL_ERROR)
