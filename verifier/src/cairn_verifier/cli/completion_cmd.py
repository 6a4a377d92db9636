"""``cairn completion bash|zsh|fish``: print a shell completion script for ``cairn``."""

from __future__ import annotations

import argparse

from .completion import SHELLS, completion_script


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print a completion script for cairn, generated from its own command line. "
        "bash: `source <(cairn completion bash)` or save it as "
        "~/.local/share/bash-completion/completions/cairn; zsh: save it as _cairn in a "
        "directory of $fpath; fish: save it as ~/.config/fish/completions/cairn.fish."
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    parser.set_defaults(func=completion_command)


def completion_command(args: argparse.Namespace) -> int:
    print(completion_script(args.root_parser, "cairn", args.shell), end="")
    return 0
