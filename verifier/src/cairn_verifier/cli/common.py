"""Options and plumbing shared by every ``cairn`` subcommand (SNP, TDX, evidence)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CairnError, ChainError, MalformedInputError
from ..input_files import MAX_INPUT_BYTES, read_input_file
from ..records import Record

if TYPE_CHECKING:
    from ..checks import VerificationResult
    from ..snp.default_policy import AnySnpPolicy
    from ..tdx.default_policy import AnyTdxPolicy
    from ..x509.cert import Certificate

__all__ = ["MAX_INPUT_BYTES", "read_input_file"]


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON document instead of text")


def add_jsonl_option(parser: argparse.ArgumentParser, what: str, example: str) -> None:
    """``--jsonl``: a batch read from standard input, one JSON document per line."""
    parser.add_argument(
        "--jsonl",
        action="store_true",
        help=f"read the {what}s from standard input, one JSON document per line (e.g. "
        f"{example}) — give '-' as the {what} — and print one JSON result per line",
    )


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


def load_snp_policy(path: Path | None) -> AnySnpPolicy:
    """The ``[snp]`` section of ``--policy``; without a file, the defaults as plain values (the
    policy file's models, pydantic, load only when there is a file to validate)."""
    if path is None:
        from ..snp.default_policy import DefaultSnpPolicy

        return DefaultSnpPolicy()
    from ..policy_document import load_policy

    return load_policy(path).snp


def load_tdx_policy(path: Path | None) -> AnyTdxPolicy:
    """The ``[tdx]`` section of ``--policy``; without a file, the defaults as plain values."""
    if path is None:
        from ..tdx.default_policy import DefaultTdxPolicy

        return DefaultTdxPolicy()
    from ..policy_document import load_policy

    return load_policy(path).tdx


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
    if not paths:
        return ()
    from ..x509.cert import load_certificates

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
    from ..evidence.simulated import issuing_root

    return issuing_root(chain, roots) or roots[0]


EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9999, 1, 1, tzinfo=UTC)
"""``--at`` range: leaves room for the days Cairn adds to a time (cache lifetimes)."""


def parse_time(text: str | None) -> datetime:
    """``--at``: ISO 8601 with a zone (or 'Z'); naive times are taken as UTC."""
    if text is None:
        return datetime.now(UTC)
    hint = "write it like 2025-06-19T10:32:27Z"
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedInputError(f"--at {text!r} is not an ISO 8601 time", hint=hint) from exc
    try:
        at = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        at = None
    if at is None or not EARLIEST_TIME <= at < LATEST_TIME:
        raise MalformedInputError(
            f"--at {text!r} is outside the supported range (1970-01-01 to 9998-12-31, UTC)",
            hint=hint,
        )
    return at


def check_http_url(url: str, what: str, example: str) -> str:
    """``url`` if httpx can request it: http(s) with a host; else malformed input (exit 10)."""
    import httpx

    hint = f"write it like {example}"
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:  # e.g. 'http://[::1': unclosed IPv6 host
        raise MalformedInputError(f"{what} {url!r} is not a valid URL: {exc}", hint=hint) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise MalformedInputError(
            f"{what} {url!r} is not an http:// or https:// URL with a host", hint=hint
        )
    return url


EMPTY_HEX_HINT = (
    "if you passed a shell variable (e.g. {variable}), it is unset or empty: set it, or give "
    "the hex value itself"
)


def parse_hex_option(text: str, option: str, *, variable: str = "$NONCE_HEX") -> bytes:
    """The bytes of a hex command-line option; empty values are refused (an unset variable).

    A ``0x`` prefix and surrounding whitespace are ignored.
    """
    clean = text.strip().lower().removeprefix("0x")
    if not clean:
        raise MalformedInputError(
            f"{option} is empty ({text!r})", hint=EMPTY_HEX_HINT.format(variable=variable)
        )
    try:
        return bytes.fromhex(clean)
    except ValueError as exc:
        raise MalformedInputError(f"{option} is not hex: {text!r}") from exc


def parse_report_data(text: str | None) -> bytes | None:
    """``--report-data``: hex of 1 to 64 bytes, right-padded with zeros to 64."""
    if text is None:
        return None
    raw = parse_hex_option(text, "--report-data")
    if len(raw) > 64:
        raise MalformedInputError(f"--report-data is {len(raw)} bytes; REPORT_DATA holds 64")
    return raw.ljust(64, b"\0")


class Output(Record):
    """Where and how a command prints."""

    as_json: bool

    __slots__ = ("as_json",)

    def __init__(self, as_json: bool) -> None:
        object.__setattr__(self, "as_json", as_json)

    def result(self, result: VerificationResult) -> int:
        from .render import render_result_json, render_result_text

        text = render_result_json(result) if self.as_json else render_result_text(result)
        print(text)
        return int(result.exit_code)

    def document(self, doc: dict[str, Any], text: str) -> int:
        print(json.dumps(doc, indent=2) if self.as_json else text)
        return 0
