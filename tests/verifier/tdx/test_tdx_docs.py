"""Every command in docs/tdx.md runs from the repository root with files that exist, and gives
the output the page shows (issue 10 item 13): the exit code of its ``Result`` line, the same
check lines in the same order, and every line shown of a ``cairn show`` excerpt."""

from __future__ import annotations

import re
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from cairn_verifier.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "tdx.md"
CHECK_LINE = re.compile(r"^\s*(PASS|FAIL|SKIP)\s+(\S+)\s+(.+?)\s{2,}")
EXIT = re.compile(r"\(exit (\d+)\)\s*$")


@dataclass(frozen=True)
class Example:
    argv: list[str]
    output: list[str]


def _example(block: str) -> Example:
    lines = textwrap.dedent(block).splitlines()
    assert lines and lines[0].startswith("$ cairn "), block
    command, rest = lines[0][2:], lines[1:]
    while command.endswith("\\"):
        command = command[:-1] + rest.pop(0).strip()
    return Example(shlex.split(command)[1:], [line for line in rest if line.strip()])


EXAMPLES = [
    _example(b) for b in re.findall(r"```console\n(.*?)^\s*```", DOC.read_text(), re.M | re.S)
]


def _checks(lines: list[str]) -> list[tuple[str, ...]]:
    return [m.groups() for m in map(CHECK_LINE.match, lines) if m]


def test_the_page_has_examples() -> None:
    assert len(EXAMPLES) >= 3
    assert any(e.argv[:2] == ["show", "tdx"] for e in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_each_documented_command_runs_as_shown(
    example: Example, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ROOT)
    for argument in example.argv:
        if "/" in argument and not argument.startswith("-"):
            assert Path(argument).exists(), f"docs/tdx.md names a missing file: {argument}"
    offline = ["--offline", "--no-cache"] if example.argv[0] == "verify" else []
    code = main([*example.argv, *offline])
    output = capsys.readouterr().out.splitlines()
    expected = next((int(m.group(1)) for m in map(EXIT.search, example.output) if m), 0)
    assert code == expected
    if example.argv[0] == "verify":
        assert _checks(output) == _checks(example.output)
        assert [line for line in output if line.startswith(("WARNING", "Result"))] == [
            line for line in example.output if line.startswith(("WARNING", "Result"))
        ]
    else:
        produced = {line.strip() for line in output}
        for line in example.output:
            assert line.strip() == "…" or line.strip() in produced, line
