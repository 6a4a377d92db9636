"""Many inputs in one ``cairn verify snp|tdx`` run: files, directories or JSON lines on stdin.

One input keeps the single-input behaviour exactly (its output, its errors, its exit code).
Several inputs — more than one path, a directory, or ``--jsonl`` — are verified one after the
other in one process, so start-up and everything that does not depend on the input (the
certificates given, collateral, the policy, parsed and verified certificates) are paid once:

* a directory stands for its regular files, in name order (hidden files skipped; not
  recursive); ``--jsonl`` reads standard input as JSON lines, one input document per non-empty
  line (any JSON envelope of docs/inputs.md, e.g. ``{"quote": "<hex>"}``);
* an input that cannot be read or verified does not stop the others: its own result says why;
* output: with ``--json`` or ``--jsonl``, one JSON document per input and line (the single-input
  document, compact, plus ``"input"``: the path or ``<stdin>:LINE``); as text, each result in
  turn, then a summary line;
* **exit code: 0 when every input verified, else the exit code of the first input (in the order
  given) that did not** — the rule of a single run, where the first failed check decides.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CairnError, ExitCode, MalformedInputError, UsageError
from ..input_files import MAX_INPUT_BYTES, read_input_file
from ..records import Record

if TYPE_CHECKING:
    from ..checks import Check, VerificationResult

STDIN = Path("-")
MAX_LINE_BYTES = MAX_INPUT_BYTES
"""A JSON line is an input document: it is held to the same size limit as an input file."""


class Item(Record):
    """One input: what the output calls it, and how to read its bytes (once, when verified)."""

    label: str
    read: Callable[[], bytes]

    __slots__ = ("label", "read")

    def __init__(self, label: str, read: Callable[[], bytes]) -> None:
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "read", read)


def _file_item(path: Path, what: str, limit: int = MAX_INPUT_BYTES) -> Item:
    return Item(str(path), lambda: read_input_file(path, what, limit=limit))


def _directory_items(path: Path, what: str, limit: int = MAX_INPUT_BYTES) -> list[Item]:
    try:
        entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise MalformedInputError(f"cannot list {path}: {exc.strerror}") from None
    files = [p for p in entries if p.is_file()]
    if not files:
        raise MalformedInputError(
            f"directory {path} holds no {what} files", hint=f"pass the {what} files themselves"
        )
    return [_file_item(p, what, limit) for p in files]


def _line_items(lines: Iterator[bytes]) -> Iterator[Item]:
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        yield Item(f"<stdin>:{number}", _line_reader(text, number))


def _line_reader(text: bytes, number: int) -> Callable[[], bytes]:
    def read() -> bytes:
        if len(text) > MAX_LINE_BYTES:
            raise MalformedInputError(
                f"standard input line {number} is {len(text)} bytes; an input is at most "
                f"{MAX_LINE_BYTES} bytes"
            )
        if not text.startswith(b"{"):
            raise MalformedInputError(
                f"standard input line {number} is not a JSON object",
                hint='--jsonl reads one JSON document per line, e.g. {"report": "<hex>"}',
            )
        return text

    return read


def expand(
    paths: list[Path], what: str, *, jsonl: bool, limit: int = MAX_INPUT_BYTES
) -> tuple[list[Item] | None, bool]:
    """(the file and directory inputs, or None for JSON lines on stdin; whether it is a batch).

    A batch is more than one path, a directory, or ``--jsonl``; ``-`` without ``--jsonl`` is one
    document on standard input, as for a single input. ``limit``: the size limit of each file.
    """
    if jsonl:
        if [str(p) for p in paths] != ["-"]:
            raise UsageError(
                "--jsonl reads the inputs from standard input: give '-' and no other input",
                hint=f"pass the {what}s as JSON lines on standard input, or drop --jsonl",
            )
        return None, True
    items: list[Item] = []
    batch = len(paths) > 1
    for path in paths:
        if path != STDIN and path.is_dir():
            items.extend(_directory_items(path, what, limit))
            batch = True
        else:
            items.append(_file_item(path, what, limit))
    return items, batch


def stdin_items() -> Iterator[Item]:
    """The JSON lines of standard input, read as they come (a batch need not fit in memory)."""
    return _line_items(iter(sys.stdin.buffer.readline, b""))


_encode = json.JSONEncoder(separators=(",", ":")).encode
"""What ``json.dumps(value, separators=(",", ":"))`` writes (one encoder for every line)."""
_string = encode_basestring_ascii
"""A JSON string as ``json.dumps`` writes one (``ensure_ascii``)."""
_CHECK_TEXT: dict[int, tuple[Check, str]] = {}
"""The JSON text of checks by identity, with the check itself (so that its id stays its own):
checks are immutable, and the ones a recorded step replays are the same objects report after
report (bounded: cleared when full)."""
_CHECK_TEXT_MAX = 4096


def _check_text(check: Check) -> str:
    known = _CHECK_TEXT.get(id(check))
    if known is not None and known[0] is check:
        return known[1]
    if len(_CHECK_TEXT) >= _CHECK_TEXT_MAX:
        _CHECK_TEXT.clear()
    text = check_json_text(check)
    _CHECK_TEXT[id(check)] = (check, text)
    return text


def check_json_text(check: Check) -> str:
    """``json.dumps(check.to_json(), separators=(",", ":"))``, written member by member (no
    dict, no encoder walk: a batch writes some twenty checks a report)."""
    text = (
        f'{{"name":{_string(check.name)},"component":{_string(check.component)},'
        f'"outcome":{_string(check.outcome.value)},"summary":{_string(check.summary)}'
    )
    if check.expected is not None:
        text += f',"expected":{_string(check.expected)}'
    if check.actual is not None:
        text += f',"actual":{_string(check.actual)}'
    if check.hint is not None:
        text += f',"hint":{_string(check.hint)}'
    if check.category is not None:
        category = _string(check.category.name.lower())
        text += f',"exit_code":{int(check.category)},"category":{category}'
    return text + "}"


def result_line(label: str, result: VerificationResult) -> str:
    """The JSON line of one result: exactly ``json.dumps({"input": label, **result.to_json()},
    separators=(",", ":"))``, written from its parts so that each check is encoded once."""
    head = _encode({"input": label, **result.head_json()})
    checks = ",".join([_check_text(check) for check in result.checks])
    return f'{head[:-1]},"checks":[{checks}],{_encode(result.tail_json())[1:]}'


def run(
    items: list[Item] | None,
    verify: Callable[[Item], VerificationResult],
    *,
    as_json: bool,
) -> int:
    """Verify every input in turn and print each outcome; the exit code of the batch (above)."""
    from .render import error_document, render_error_text, render_result_text

    lines = as_json or items is None
    first_failure: int | None = None
    counts = {"verified": 0, "failed": 0}
    for item in items if items is not None else stdin_items():
        try:
            result = verify(item)
        except CairnError as error:
            code = int(error.exit_code)
            if lines:
                text = _encode({"input": item.label, **error_document(error)})
            else:
                text = f"{item.label}:\n{render_error_text(error)}\n"
        else:
            code = int(result.exit_code)
            text = result_line(item.label, result) if lines else render_result_text(result) + "\n"
        counts["verified" if code == 0 else "failed"] += 1
        if code != 0 and first_failure is None:
            first_failure = code
        print(text, flush=True)
    total = counts["verified"] + counts["failed"]
    if total == 0:
        raise MalformedInputError("no input to verify: standard input held no JSON lines")
    exit_code = first_failure if first_failure is not None else int(ExitCode.OK)
    if not lines:
        print(
            f"Batch: {counts['verified']} of {total} verified"
            + (f"; exit {exit_code} (the first input that did not verify)" if exit_code else "")
        )
    return exit_code
