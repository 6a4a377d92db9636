"""Entry point of the ``cairn`` command: argument parsing and error-to-exit-code mapping.

Start-up is part of the interface (docs/performance.md): this module imports nothing but the
version check at module level; ``cairn --version`` answers before argparse is loaded, and a
command loads only its own module (:mod:`.commands`).
"""

from __future__ import annotations

import os
import sys

from . import version

TYPE_CHECKING = False  # typing itself costs ``cairn --version`` ~8 ms to import
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The whole ``cairn`` argument tree; each command's own parser is configured on first use
    (:mod:`.commands`), so building it imports no command module."""
    import argparse

    from .. import __version__
    from .commands import EPILOG, LazySubcommands, add_commands
    from .parser import CairnArgumentParser

    parser = CairnArgumentParser(
        prog="cairn",
        description="Verify confidential-VM attestation evidence and explain every check.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"cairn {__version__}", help=version.HELP
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", action=LazySubcommands
    )
    add_commands(commands)
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
    import json

    from ..errors import CairnError, ExitCode
    from .parser import CommandLineError
    from .render import (
        error_document,
        internal_error_document,
        render_error_text,
        render_usage_error_text,
    )

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
            import traceback

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
