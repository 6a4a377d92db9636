"""``cairn verify response``: check the signature on an echo service's response.

The key is either given (``--public-key``/``--public-key-file``: then a pass says only that this
key signed) or taken from an evidence bundle (``--evidence --service``): the bundle is verified
in full first, so a pass says that the named service of the attested VM signed the response.
The signature itself is checked by :mod:`cairn_verifier.binding.echo_signature`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from ..binding.echo_signature import (
    EchoResponse,
    parse_echo_response,
    signature_scalars,
    verify_echo_signature,
)
from ..check_names import ResponseCheck
from ..checks import CheckLog, VerificationResult
from ..errors import ExitCode, MalformedInputError, UsageError
from ..evidence.models import load_evidence
from .common import Output, read_input_file
from .evidence_cmd import parse_nonce, verify_evidence_with_options
from .evidence_options import add_evidence_options, refuse_evidence_only_options

COMPONENT: Final = "response"
MAX_RESPONSE_BYTES: Final = 16 * 1024
"""Longer than any response line: ``OK``, a 64-character id, 2 x 4096 hex digits, a signature."""

KEY_NOT_ATTESTED: Final = (
    "the public key was given on the command line: this shows the key signed the response, "
    "not that the key belongs to an attested service (use --evidence FILE --service NAME)"
)


def register(verify: Any) -> None:
    parser = verify.add_parser(
        "response",
        help="check the signature on an echo service's response",
        description="Check that an echo service's response (services/README.md) carries a "
        "valid signature by the service's key: a key you give, or the key an evidence bundle "
        "attests for a named service (the evidence is verified first). Exit 0 verified, 1 the "
        "response does not echo --request-id/--payload, 2 the signature is not the key's.",
    )
    parser.add_argument(
        "response",
        nargs="?",
        metavar="LINE",
        help="the response line `OK <request-id> <hex payload> <hex signature>` as one "
        "argument, or - to read it from stdin; without it give --request-id, --payload and "
        "--signature",
    )
    parser.add_argument(
        "--request-id",
        help="with LINE: the request id you sent, which the response must echo; without LINE: "
        "the request id that was signed",
    )
    parser.add_argument(
        "--payload",
        help="with LINE: the payload you sent (text); without LINE: the payload that was signed",
    )
    parser.add_argument(
        "--signature",
        metavar="HEX",
        help="without LINE: the signature, 64 bytes r||s as 128 hex digits",
    )
    key = parser.add_argument_group("the signer's key (give one)")
    key.add_argument(
        "--public-key",
        metavar="HEX",
        help="the service's secp256k1 public key, SEC1 hex (66 or 130 digits)",
    )
    key.add_argument(
        "--public-key-file",
        type=Path,
        metavar="FILE",
        help="a file holding that hex key (what the service writes with --public-key-file)",
    )
    key.add_argument(
        "--service",
        metavar="NAME",
        help="with --evidence: the service whose attested key must have signed",
    )
    add_evidence_options(parser, required=False)
    parser.set_defaults(func=verify_response_command)


def _line(text: str) -> bytes:
    """The response line from LINE or stdin (``-``), newline-terminated and bounded."""
    if text == "-":
        data = sys.stdin.buffer.read(MAX_RESPONSE_BYTES + 1)
    else:
        data = text.encode("utf-8", "surrogateescape")
    if len(data) > MAX_RESPONSE_BYTES:
        raise MalformedInputError(
            f"the response is longer than {MAX_RESPONSE_BYTES} bytes; no echo response is",
            component=COMPONENT,
        )
    if not data.endswith(b"\n"):
        data += b"\n"
    if data.count(b"\n") != 1:
        raise MalformedInputError(
            "give exactly one response line", component=COMPONENT, hint="one line per check"
        )
    return data


def _response(args: argparse.Namespace) -> tuple[EchoResponse, bytes | None]:
    """The response to check, and the payload it must echo (bytes) when one was given."""
    if args.response is not None:
        if args.signature is not None:
            raise UsageError(
                "give the response LINE or --signature, not both",
                hint="LINE carries the signature as its last field",
            )
        if (args.request_id is None) != (args.payload is None):
            raise UsageError("give --request-id and --payload together (what you sent)")
        expected = None if args.payload is None else args.payload.encode("utf-8", "surrogateescape")
        return parse_echo_response(_line(args.response)), expected
    if args.request_id is None or args.payload is None or args.signature is None:
        raise UsageError(
            "give the response LINE, or --request-id, --payload and --signature",
            hint="e.g. cairn verify response 'OK req-1 68656c6c6f <signature>' --public-key HEX",
        )
    try:
        signature = bytes.fromhex(args.signature.strip())
    except ValueError:
        raise MalformedInputError("--signature is not hex", component=COMPONENT) from None
    signature_scalars(signature)
    payload = args.payload.encode("utf-8", "surrogateescape")
    return EchoResponse(args.request_id, payload, signature), None


def _given_key(args: argparse.Namespace) -> bytes:
    if args.public_key_file is not None:
        text = read_input_file(args.public_key_file, "public key").decode("ascii", "replace")
        what = str(args.public_key_file)
    else:
        text, what = args.public_key, "--public-key"
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        raise MalformedInputError(
            f"{what} is not a hex public key",
            component=COMPONENT,
            hint="give the SEC1 key as hex (66 or 130 digits), as the service writes it",
        ) from None


def verify_response_command(args: argparse.Namespace) -> int:
    response, expected_payload = _response(args)
    sources = [args.public_key, args.public_key_file, args.evidence]
    if sum(source is not None for source in sources) != 1:
        raise UsageError(
            "give exactly one of --public-key, --public-key-file or --evidence (with --service)"
        )
    if args.evidence is not None:
        if args.service is None or args.nonce is None:
            raise UsageError(
                "--evidence needs --service NAME and --nonce HEX",
                hint="name the service that answered, and the nonce the evidence was fetched with",
            )
        result, key = _attested_key(args)
    else:
        if args.service is not None:
            raise UsageError("--service only applies with --evidence")
        refuse_evidence_only_options(args, "--public-key/--public-key-file")
        key = _given_key(args)
        result = VerificationResult(
            kind="Cairn echo response",
            subject="",
            verified_at=datetime.now(UTC).replace(microsecond=0),
            checks=(),
            warnings=(KEY_NOT_ATTESTED,),
        )
    log = CheckLog(list(result.checks))
    if expected_payload is not None:
        echoed = (response.request_id, response.payload) == (args.request_id, expected_payload)
        log.check(
            echoed,
            ResponseCheck.REQUEST,
            COMPONENT,
            ExitCode.CONTENT_MISMATCH,
            "the response echoes the request id and payload that were sent",
            expected=f"{args.request_id} {expected_payload.hex()}",
            actual=f"{response.request_id} {response.payload.hex()}",
        )
    who = f"service {args.service!r}" if args.evidence is not None else "the given key"
    if key is None:
        log.skipped(ResponseCheck.SIGNATURE, COMPONENT, "no key to check it with (see above)")
    else:
        log.check(
            verify_echo_signature(key, response.request_id, response.payload, response.signature),
            ResponseCheck.SIGNATURE,
            COMPONENT,
            ExitCode.SIGNATURE_INVALID,
            f"the signature is by {who} over this request id and payload",
            hint="the response was altered, or another key signed it",
        )
    claims: dict[str, object] = dict(result.claims)
    claims["response"] = {
        "request_id": response.request_id,
        "payload_hex": response.payload.hex(),
        "signature": response.signature.hex(),
        "public_key": None if key is None else key.hex(),
        "service": args.service,
    }
    final = replace(
        result,
        kind="Cairn echo response",
        subject=f"response to request {response.request_id!r}",
        checks=tuple(log.checks),
        claims=claims,
    )
    return Output(args.json).result(final)


def _attested_key(args: argparse.Namespace) -> tuple[VerificationResult, bytes | None]:
    """Verify the evidence; the named service's key if the evidence lists it."""
    source = str(args.evidence)
    bundle = load_evidence(read_input_file(args.evidence, "evidence bundle"), source)
    nonce = parse_nonce(args.nonce)
    assert nonce is not None
    evidence = verify_evidence_with_options(args, bundle, nonce, source)
    log = CheckLog(list(evidence.checks))
    services = {service.name: service for service in bundle.claims.services}
    service = services.get(args.service)
    if service is None:
        log.failed(
            ResponseCheck.SERVICE,
            COMPONENT,
            ExitCode.CONTENT_MISMATCH,
            f"the evidence attests no service {args.service!r}",
            expected=args.service,
            actual=", ".join(services) or "no services",
        )
        key = None
    else:
        log.passed(
            ResponseCheck.SERVICE,
            COMPONENT,
            f"the evidence attests service {args.service!r} and its key",
            actual=service.public_key.hex(),
        )
        key = service.public_key
    return replace(evidence, checks=tuple(log.checks)), key
