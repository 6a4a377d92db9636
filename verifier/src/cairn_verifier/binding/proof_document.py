"""The service inclusion-proof document served by the agent and read by ``cairn tree verify``.

``{"format": "cairn-service-proof", "version": 1, "root": hex, "service": {name, store_path,
public_key}, "proof": <Proof.as_dict()>}`` — everything a holder needs to show that one service
(its store path and signing key) is a leaf of an attested tree root.
"""

from __future__ import annotations

from typing import Any

from ..errors import MalformedInputError
from .services import ServiceEntry, service_leaf
from .smt import Proof, SparseMerkleTree, verify_proof

FORMAT = "cairn-service-proof"
VERSION = 1


def proof_document(tree: SparseMerkleTree, service: ServiceEntry) -> dict[str, Any]:
    """The inclusion proof of ``service`` in ``tree`` as a JSON-ready document."""
    key, _ = service_leaf(service)
    return {
        "format": FORMAT,
        "version": VERSION,
        "root": f"{tree.root:064x}",
        "service": {
            "name": service.name,
            "store_path": service.store_path,
            "public_key": service.public_key.hex(),
        },
        "proof": tree.prove(key).as_dict(),
    }


_DOCUMENT_FIELDS = frozenset({"format", "version", "root", "service", "proof"})
_SERVICE_FIELDS = frozenset({"name", "store_path", "public_key"})


def _invalid(problem: str) -> MalformedInputError:
    return MalformedInputError(
        f"invalid service proof document: {problem}",
        hint="pass the document `cairn tree proof` or the agent (/v1/services/NAME/proof) wrote",
    )


def _hex_field(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise _invalid(f"{name} is not hex") from None


def read_proof_document(doc: object) -> tuple[ServiceEntry, Proof, int]:
    """Decode a proof document (MalformedInputError/ParseError on anything else).

    The document must have exactly the fields :func:`proof_document` writes, with their types.
    """
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _invalid(f'not a {FORMAT} document (no "format": "{FORMAT}")')
    if type(doc.get("version")) is not int or doc["version"] != VERSION:
        raise _invalid(f"version {doc.get('version')!r:.20} (this verifier reads {VERSION})")
    if set(doc) != _DOCUMENT_FIELDS:
        missing, extra = sorted(_DOCUMENT_FIELDS - set(doc)), sorted(set(doc) - _DOCUMENT_FIELDS)
        problems = [f"missing {', '.join(missing)}" if missing else ""]
        problems.append(f"unknown {', '.join(map(repr, extra))}" if extra else "")
        raise _invalid("; ".join(p for p in problems if p)[:200])
    service = doc["service"]
    if not isinstance(service, dict) or set(service) != _SERVICE_FIELDS:
        raise _invalid(f"service must be an object with fields {sorted(_SERVICE_FIELDS)}")
    if not isinstance(service["name"], str) or not isinstance(service["store_path"], str):
        raise _invalid("service.name and service.store_path must be strings")
    root_bytes = _hex_field(doc["root"], "root")
    if len(root_bytes) != 32:
        raise _invalid(f"root must be 32 bytes (64 hex digits), got {len(root_bytes)}")
    entry = ServiceEntry(
        service["name"],
        service["store_path"],
        _hex_field(service["public_key"], "service.public_key"),
    )
    return entry, Proof.from_dict(doc["proof"]), int.from_bytes(root_bytes, "big")


def verify_proof_document(doc: object, root: int) -> tuple[ServiceEntry, bool]:
    """Does the document place its service in the tree with ``root``?"""
    entry, proof, _ = read_proof_document(doc)
    key, value = service_leaf(entry)
    return entry, verify_proof(root, key, value, proof)
