"""Render verification results and errors for people (text) and machines (JSON)."""

from __future__ import annotations

import json
from typing import Any

from ..checks import Outcome, VerificationResult
from ..errors import CairnError, ExitCode
from ..timefmt import iso_time
from .parser import CommandLineError

_LABELS = {Outcome.PASS: "PASS", Outcome.FAIL: "FAIL", Outcome.SKIP: "SKIP"}


def render_result_text(result: VerificationResult) -> str:
    """Every check with its outcome, the compared values, hints, and a one-line verdict."""
    lines = [
        f"{result.kind}: {result.subject}",
        f"as of {iso_time(result.verified_at)}",
        "",
    ]
    name_width = max((len(c.name) for c in result.checks), default=0)
    comp_width = max((len(c.component) for c in result.checks), default=0)
    for check in result.checks:
        label = _LABELS[check.outcome]
        name = f"{check.name:<{name_width}}"
        lines.append(f"  {label}  {name}  {check.component:<{comp_width}}  {check.summary}")
        indent = " " * 8
        if check.outcome is Outcome.FAIL:
            if check.expected is not None:
                lines.append(f"{indent}expected: {check.expected}")
            if check.actual is not None:
                lines.append(f"{indent}actual:   {check.actual}")
        if check.hint:
            lines.append(f"{indent}what to do: {check.hint}")
    for warning in result.warnings:
        lines.append(f"WARNING: {warning}")
    lines.append("")
    code = result.exit_code
    if result.ok:
        lines.append(f"Result: VERIFIED (exit {int(code)})")
    else:
        failed = next(c for c in result.checks if c.outcome is Outcome.FAIL)
        where = f" at check '{failed.name}' on {failed.component}"
        lines.append(f"Result: NOT VERIFIED: {code.meaning}{where} (exit {int(code)})")
    return "\n".join(lines)


def render_result_json(result: VerificationResult) -> str:
    return json.dumps(result.to_json(), indent=2, sort_keys=False)


def error_document(error: CairnError) -> dict[str, Any]:
    """The one JSON shape of every error of every command (``--json``), usage errors included.

    ``{"verified": false, "exit_code": N, "result": meaning, "error": {"type", "message",
    "component"?, "hint"?}}``; a usage error adds ``error.usage``.
    """
    doc: dict[str, Any] = {
        "verified": False,
        "exit_code": int(error.exit_code),
        "result": error.exit_code.meaning,
        "error": {"type": type(error).__name__, "message": error.message},
    }
    if error.component:
        doc["error"]["component"] = error.component
    if error.hint:
        doc["error"]["hint"] = error.hint
    if isinstance(error, CommandLineError):
        doc["error"]["type"] = "UsageError"
        doc["error"]["usage"] = " ".join(error.usage.split()).removeprefix("usage: ")
    return doc


def render_error_text(error: CairnError) -> str:
    lines = [f"error: {error}"]
    if error.hint:
        lines.append(f"what to do: {error.hint}")
    lines.append(f"({error.exit_code.meaning}; exit {int(error.exit_code)})")
    return "\n".join(lines)


def render_usage_error_text(error: CommandLineError) -> str:
    """argparse's familiar form (usage line, ``prog: error: message``) plus the exit code."""
    return (
        f"{error.usage.rstrip()}\n{error.prog}: error: {error.message}\n"
        f"what to do: {error.hint}\n({error.exit_code.meaning}; exit {int(error.exit_code)})"
    )


def internal_error_document(message: str) -> dict[str, Any]:
    return {
        "verified": False,
        "exit_code": int(ExitCode.INTERNAL_ERROR),
        "result": ExitCode.INTERNAL_ERROR.meaning,
        "error": {"type": "InternalError", "message": message},
    }
