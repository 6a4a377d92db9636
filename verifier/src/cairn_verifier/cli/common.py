"""Options and plumbing shared by every ``cairn`` subcommand (SNP, TDX, evidence)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..checks import VerificationResult
from ..errors import CairnError, ChainError, MalformedInputError
from ..evidence.verify import issuing_root
from ..x509.cert import Certificate, load_certificates
from .render import render_result_json, render_result_text

MAX_INPUT_BYTES = 16 * 1024 * 1024


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON document instead of text")


def add_report_data_option(parser: argparse.ArgumentParser) -> None:
    """``--report-data`` of ``verify snp|tdx`` (evidence bundles compute REPORT_DATA instead)."""
    parser.add_argument(
        "--report-data",
        metavar="HEX",
        help="expected REPORT_DATA (64 bytes as hex; shorter values are zero-padded on the right)",
    )


def add_verify_options(parser: argparse.ArgumentParser) -> None:
    """Options every ``cairn verify`` subcommand shares."""
    parser.add_argument("--policy", type=Path, metavar="FILE", help="policy file (TOML or JSON)")
    parser.add_argument(
        "--at",
        metavar="TIME",
        help="verify as of this time (ISO 8601, e.g. 2025-06-19T10:32:27Z); default: now",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="never use the network: only the files given, collateral bundles and the cache",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="collateral cache directory (default: $XDG_CACHE_HOME/cairn)",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="neither read nor write the collateral cache"
    )
    add_progress_option(parser)
    parser.add_argument(
        "--trust-simulated-root",
        type=Path,
        action="append",
        metavar="FILE",
        help="TESTING ONLY: also trust this simulated root (PEM, one or more certificates, "
        "e.g. exported by a simulated cairn-agent). Evidence that chains to it is NOT "
        "hardware-backed; the output says so. Repeatable",
    )
    add_json_option(parser)


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    """``--progress``: report slow collateral requests and retries on standard error."""
    parser.add_argument(
        "--progress",
        action="store_true",
        help="report slow collateral requests and retries on standard error even when it is "
        "not a terminal (on a terminal they are always reported)",
    )


def load_simulated_roots(paths: list[Path] | None) -> tuple[Certificate, ...]:
    """``--trust-simulated-root``: every certificate of every file, each a self-signed root."""
    roots: list[Certificate] = []
    for path in paths or ():
        data = read_input_file(path, "simulated root")
        try:
            certs = load_certificates(data)
        except CairnError as error:
            raise MalformedInputError(
                f"--trust-simulated-root {path}: {error.message}",
                hint="pass the PEM file the simulated agent exported (export_trust_root)",
            ) from error
        for cert in certs:
            try:
                cert.verify_signed_by(cert)
            except CairnError as error:
                raise ChainError(
                    f"--trust-simulated-root {path}: '{cert.display_name}' is not a self-signed "
                    f"root ({error.message})",
                    component="simulated root",
                    hint="name the simulated root CA itself, not an intermediate or leaf",
                ) from error
            if cert not in roots:
                roots.append(cert)
    return tuple(roots)


def pick_simulated_root(
    chain: list[Certificate], roots: tuple[Certificate, ...]
) -> Certificate | None:
    """The trusted simulated root that issued ``chain``; else the first one named (which then
    fails the root check with a clear message); None when no simulated root was named."""
    if not roots:
        return None
    return issuing_root(chain, roots) or roots[0]


def parse_time(text: str | None) -> datetime:
    """``--at``: ISO 8601 with a zone (or 'Z'); naive times are taken as UTC."""
    if text is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedInputError(
            f"--at {text!r} is not an ISO 8601 time",
            hint="write it like 2025-06-19T10:32:27Z",
        ) from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_report_data(text: str | None) -> bytes | None:
    """``--report-data``: hex of at most 64 bytes, right-padded with zeros to 64."""
    if text is None:
        return None
    clean = text.strip().lower().removeprefix("0x")
    try:
        raw = bytes.fromhex(clean)
    except ValueError as exc:
        raise MalformedInputError(f"--report-data is not hex: {text!r}") from exc
    if len(raw) > 64:
        raise MalformedInputError(f"--report-data is {len(raw)} bytes; REPORT_DATA holds 64")
    return raw.ljust(64, b"\0")


def read_input_file(path: Path, what: str) -> bytes:
    """Read a user-supplied file with a typed error (never a traceback); '-' reads stdin."""
    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with path.open("rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError as exc:
        raise MalformedInputError(f"{what} file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise MalformedInputError(f"{what} {path} is a directory, not a file") from exc
    except OSError as exc:
        raise MalformedInputError(f"cannot read {what} {path}: {exc.strerror}") from exc
    if len(data) > MAX_INPUT_BYTES:
        raise MalformedInputError(f"{what} {path} is larger than {MAX_INPUT_BYTES} bytes")
    if not data:
        raise MalformedInputError(f"{what} {path} is empty")
    return data


@dataclass(frozen=True)
class Output:
    """Where and how a command prints."""

    as_json: bool

    def result(self, result: VerificationResult) -> int:
        text = render_result_json(result) if self.as_json else render_result_text(result)
        print(text)
        return int(result.exit_code)

    def document(self, doc: dict[str, Any], text: str) -> int:
        print(json.dumps(doc, indent=2) if self.as_json else text)
        return 0
