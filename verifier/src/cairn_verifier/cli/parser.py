"""The argparse parser class of ``cairn``: usage errors become typed :class:`UsageError`\\s.

argparse prints its own message and exits 2; Cairn documents exit 64 for a wrong command line
and prints a JSON error document under ``--json``, so the error is raised instead and ``main``
renders it like every other error.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

from ..errors import UsageError


class CommandLineError(UsageError):
    """argparse rejected the command line; ``usage`` is the usage line of the (sub)command."""

    def __init__(self, message: str, *, prog: str, usage: str):
        super().__init__(message, component="command line", hint=f"see `{prog} --help`")
        self.prog = prog
        self.usage = usage


class CairnArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that raises :class:`CommandLineError` instead of exiting with 2."""

    def error(self, message: str) -> NoReturn:
        raise CommandLineError(message, prog=self.prog, usage=self.format_usage())

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse sizes its help with shutil.get_terminal_size, and shutil imports compression
        # modules (about 2 ms of every start-up: add_argument makes a formatter too); the same
        # width, found the same way, without shutil.
        make: Any = self.formatter_class
        formatter: argparse.HelpFormatter = make(prog=self.prog, width=help_width())
        return formatter


def help_width() -> int:
    """The width argparse formats help to: ``shutil.get_terminal_size().columns - 2`` (the
    ``COLUMNS`` variable, else the terminal of standard output, else 80)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return columns - 2
