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
    completion_cmd,
    evidence_cmd,
    help_cmd,
    reference_cmd,
    response_cmd,
    show_evidence_cmd,
    snp_cmd,
    tdx_cmd,
    version,
    zk_cmd,
)
from .parser import CairnArgumentParser, CommandLineError
from .render import (
    error_document,
    internal_error_document,
    render_error_text,
    render_usage_error_text,
)

Handler = Callable[[argparse.Namespace], int]

EPILOG = """exit codes:
  0 verified            1 content mismatch      2 signature invalid
  3 chain untrusted, expired or revoked         4 policy rejection
  5 collateral unavailable                      6 evidence unavailable (agent)
  10 malformed input                            64 usage or setup error
  70 internal error (please report it)          130 interrupted, 141 closed pipe

`cairn help TOPIC` explains exit-codes, policy, evidence, snp, tdx, json and more;
`cairn completion bash|zsh|fish` prints a shell completion script."""


def build_parser() -> argparse.ArgumentParser:
    parser = CairnArgumentParser(
        prog="cairn",
        description="Verify confidential-VM attestation evidence and explain every check.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"cairn {__version__}", help=version.HELP
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    show = commands.add_parser(
        "show",
        help="decode and print evidence without verifying it",
        description="Decode an SEV-SNP report, a TDX quote or a Cairn evidence bundle and print "
        "every field. Nothing is verified: use `cairn verify` for that.",
    ).add_subparsers(dest="what", required=True, metavar="KIND")
    verify = commands.add_parser(
        "verify",
        help="verify evidence",
        description="Verify an SEV-SNP report, a TDX quote or a Cairn evidence bundle; every\n"
        "check is printed as PASS, FAIL or SKIP and the exit code says which category failed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ).add_subparsers(dest="what", required=True, metavar="KIND")
    snp_cmd.register(show, verify)
    tdx_cmd.register(show, verify)
    show_evidence_cmd.register(show)
    evidence_cmd.register(verify, commands)
    response_cmd.register(verify)
    collateral_cmd.register(commands)
    reference_cmd.register(commands)
    zk_cmd.register(commands)
    help_cmd.register(commands)
    completion_cmd.register(commands)
    parser.set_defaults(root_parser=parser)  # for `cairn help` and `cairn completion`
    return parser


def _wants_json(argv: Sequence[str]) -> bool:
    """``--json`` among the options (not after ``--``, where it would be an operand)."""
    options = argv[: argv.index("--")] if "--" in argv else argv
    return "--json" in options


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cairn``; return the exit code (typed errors map to their documented codes)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    wanted = version.version_request(args_list)
    if wanted is not None:  # `--version --verbose` and `--json`: argparse's action takes neither
        print(version.render_version(*wanted))
        return 0
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except CommandLineError as error:
        if _wants_json(args_list):
            print(json.dumps(error_document(error), indent=2))
        else:
            print(render_usage_error_text(error), file=sys.stderr)
        return int(error.exit_code)
    except SystemExit as exc:  # --help and --version exit 0 after printing
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
