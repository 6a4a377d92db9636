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


def read_proof_document(doc: object) -> tuple[ServiceEntry, Proof, int]:
    """Decode a proof document (MalformedInputError/ParseError on anything else)."""
    try:
        if (
            not isinstance(doc, dict)
            or doc.get("format") != FORMAT
            or doc.get("version") != VERSION
        ):
            raise ValueError(f"not a {FORMAT} version {VERSION} document")
        service = doc["service"]
        entry = ServiceEntry(
            service["name"], service["store_path"], bytes.fromhex(service["public_key"])
        )
        root = int(doc["root"], 16)
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedInputError(f"invalid service proof document: {exc}") from exc
    return entry, Proof.from_dict(doc["proof"]), root


def verify_proof_document(doc: object, root: int) -> tuple[ServiceEntry, bool]:
    """Does the document place its service in the tree with ``root``?"""
    entry, proof, _ = read_proof_document(doc)
    key, value = service_leaf(entry)
    return entry, verify_proof(root, key, value, proof)
