"""The argparse parser class of ``cairn``: usage errors become typed :class:`UsageError`\\s.

argparse prints its own message and exits 2; Cairn documents exit 64 for a wrong command line
and prints a JSON error document under ``--json``, so the error is raised instead and ``main``
renders it like every other error.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

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
