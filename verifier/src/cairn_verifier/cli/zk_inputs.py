"""The proofs ``cairn zk verify`` checks: one file, several, a directory, or JSON lines.

Every input — a file or a line — is a JSON object: either a proof document as ``cairn zk prove``
writes it, or ``{"proof": <proof document>, "request_id": ID, "payload": TEXT}``, which names the
echo response that proof must be about. The response is named either on the command line
(``--request-id/--payload``, for every input) or in each input, never both; ``--any-response``
accepts whatever response a bare proof names. An input that breaks these rules, or cannot be
read, is a failure of its own (in a batch the others are still verified).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any, Final

from ..documents import parse_json
from ..errors import CairnError, MalformedInputError, UsageError
from ..input_files import MAX_DOCUMENT_BYTES
from .batch import Item

COMPONENT: Final = "zk"
MAX_PROOFS: Final = 1000
"""Proofs in one call: all are read before the one Node process that checks them starts."""
ENVELOPE_KEYS: Final = frozenset({"proof", "request_id", "payload"})


@dataclass(frozen=True)
class Response:
    """The echo response a proof must be about (its digest), or None: any (``--any-response``)."""

    digest: bytes | None
    request_id: str | None = None


@dataclass(frozen=True)
class ProofInput:
    """One proof read and decoded: what Node verifies (``data``) and what Python checks."""

    label: str
    document: dict[str, Any]
    data: bytes
    public: Any  # zk.witness.PublicClaims (imported lazily: it loads the binding layer)
    response: Response


def command_line_response(args: argparse.Namespace) -> Response | None:
    """The response named by ``--request-id/--payload`` or ``--any-response``; None if neither.

    Contradictions are usage errors (exit 64), before anything is read."""
    if (args.request_id is None) != (args.payload is None):
        raise UsageError("give --request-id and --payload together", component=COMPONENT)
    if args.request_id is not None and args.any_response:
        raise UsageError(
            "--any-response contradicts --request-id/--payload: give one or the other",
            component=COMPONENT,
        )
    if args.any_response:
        return Response(None)
    if args.request_id is None:
        return None
    from ..binding.echo_signature import echo_digest

    return Response(echo_digest(args.request_id, args.payload), args.request_id)


def _no_response_error() -> UsageError:
    return UsageError(
        "say which response the proof must be about: --request-id ID --payload TEXT",
        component=COMPONENT,
        hint="to accept a proof about any response (its hash is printed, nothing more is "
        "known about it), add --any-response instead; in a batch, an input may name its own "
        'response: {"proof": {…}, "request_id": ID, "payload": TEXT}',
    )


def _envelope(doc: dict[str, Any], label: str) -> tuple[dict[str, Any], Response]:
    from ..binding.echo_signature import echo_digest

    unknown = sorted(set(doc) - ENVELOPE_KEYS)
    request_id, payload, proof = doc.get("request_id"), doc.get("payload"), doc.get("proof")
    if unknown or not isinstance(proof, dict):
        raise MalformedInputError(
            f"{label} is neither a zk proof document nor "
            '{"proof": {…}, "request_id": ID, "payload": TEXT}'
            + (f" (unknown member {unknown[0]!r})" if unknown else ""),
            component=COMPONENT,
        )
    if not isinstance(request_id, str) or not isinstance(payload, str):
        raise MalformedInputError(
            f"{label}: request_id and payload must both be strings", component=COMPONENT
        )
    return proof, Response(echo_digest(request_id, payload), request_id)


def read_proof_input(item: Item, given: Response | None) -> ProofInput:
    """Read and decode one input; ``given``: the response named on the command line."""
    from ..zk.witness import read_public_inputs

    data = item.read()
    if len(data) > MAX_DOCUMENT_BYTES:
        raise MalformedInputError(
            f"{item.label} is {len(data)} bytes; a zk proof is at most {MAX_DOCUMENT_BYTES}",
            component=COMPONENT,
        )
    doc = parse_json(data, f"zk proof {item.label}", component=COMPONENT)
    if not isinstance(doc, dict):
        raise MalformedInputError(f"{item.label} is not a zk proof document", component=COMPONENT)
    if "proof" in doc and "public_inputs" not in doc:
        if given is not None:
            raise UsageError(
                f"{item.label} names the response its proof must be about, and so does the "
                "command line (--request-id/--payload or --any-response)",
                component=COMPONENT,
                hint="name the response in the inputs or on the command line, not both",
            )
        doc, response = _envelope(doc, item.label)
        data = json.dumps(doc).encode()  # Node reads exactly the document checked here
        return ProofInput(
            item.label, doc, data, read_public_inputs(doc.get("public_inputs")), response
        )
    public = read_public_inputs(doc.get("public_inputs"))  # malformed (exit 10) first
    if given is None:
        raise _no_response_error()
    return ProofInput(item.label, doc, data, public, given)


def read_proof_inputs(
    items: list[Item], given: Response | None, *, batch: bool
) -> list[ProofInput | CairnError]:
    """Every input read (an error in a batch is kept as that input's outcome; alone, raised)."""
    if len(items) > MAX_PROOFS:
        raise MalformedInputError(
            f"{len(items)} proofs in one call; cairn zk verify checks at most {MAX_PROOFS}",
            component=COMPONENT,
            hint=f"split them into calls of at most {MAX_PROOFS}",
        )
    outcomes: list[ProofInput | CairnError] = []
    for item in items:
        try:
            outcomes.append(read_proof_input(item, given))
        except CairnError as error:
            if not batch:
                raise
            outcomes.append(error)
    return outcomes
