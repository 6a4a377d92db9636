"""`cairn --help` everywhere: every command is described, every option explained, and no help
text sends the user to a flag that its command does not have."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from cairn_verifier.cli.main import build_parser, main

FLAG = re.compile(r"(?<![\w-])(?:--[a-z][a-z0-9-]*|-[a-z](?![\w-]))")
# `cairn verify snp --certs …` or `npm ci --prefix circuits` quotes another command's flags.
OTHER_COMMAND = re.compile(r"`(?:cairn|npm|node|pip|nix)\b[^`]*`")


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every (sub)command: its path, its parser and the one-line help its parent lists."""
    yield path, parser, None
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                for sub_path, sub, summary in _commands(child, (*path, name)):
                    yield sub_path, sub, summary if sub_path != (*path, name) else listed.get(name)


def _texts(parser: argparse.ArgumentParser) -> list[str]:
    texts = [parser.description or "", parser.epilog or ""]
    texts += [a.help for a in parser._actions if isinstance(a.help, str)]
    return texts


ALL = list(_commands(build_parser()))


def test_the_tree_is_walked() -> None:
    paths = {" ".join(path) for path, _, _ in ALL}
    assert {"verify snp", "show evidence", "tree verify", "completion", "help"} <= paths


@pytest.mark.parametrize(("path", "parser", "summary"), ALL, ids=[" ".join(p) for p, _, _ in ALL])
def test_every_command_is_described(
    path: tuple[str, ...], parser: argparse.ArgumentParser, summary: str | None
) -> None:
    assert parser.description, f"`cairn {' '.join(path)}` has no description"
    if path:
        assert summary, f"`cairn {' '.join(path)}` has no one-line help in its parent's list"


@pytest.mark.parametrize(("path", "parser", "summary"), ALL, ids=[" ".join(p) for p, _, _ in ALL])
def test_every_option_has_help(
    path: tuple[str, ...], parser: argparse.ArgumentParser, summary: str | None
) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help != argparse.SUPPRESS, (
            f"`cairn {' '.join(path)}`: {name} has no help text"
        )


@pytest.mark.parametrize(("path", "parser", "summary"), ALL, ids=[" ".join(p) for p, _, _ in ALL])
def test_help_mentions_only_flags_the_command_has(
    path: tuple[str, ...], parser: argparse.ArgumentParser, summary: str | None
) -> None:
    own = {flag for action in parser._actions for flag in action.option_strings}
    for text in _texts(parser):
        for flag in FLAG.findall(OTHER_COMMAND.sub("", text)):
            assert flag in own, f"`cairn {' '.join(path)}` help mentions {flag}: {text!r}"


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    for path, _, _ in ALL:
        assert main([*path, "--help"]) == 0
        assert "usage: cairn" in capsys.readouterr().out


@pytest.mark.parametrize("columns", [None, "120", "50", "0", "-3", "wide"])
def test_help_is_as_wide_as_argparse_makes_it(monkeypatch: pytest.MonkeyPatch, columns) -> None:
    """The parser reads argparse's help width without shutil (start-up, docs/performance.md):
    the same number argparse's own formatter uses (``shutil.get_terminal_size().columns - 2``)."""
    import shutil

    from cairn_verifier.cli.parser import help_width

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert help_width() == shutil.get_terminal_size().columns - 2
