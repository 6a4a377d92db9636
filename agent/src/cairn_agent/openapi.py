"""The agent's OpenAPI 3.1 description, served at /openapi.json (and used to fuzz the API)."""

from __future__ import annotations

from functools import cache
from typing import Any

from cairn_verifier.api import evidence_json_schema

from . import __version__


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


@cache
def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 for the versioned API (v1)."""
    schema = evidence_json_schema()
    definitions = schema.pop("$defs", {})
    schema.pop("$schema", None)
    schema.pop("$id", None)
    components: dict[str, Any] = {"EvidenceBundle": schema, **definitions}
    components["Problem"] = {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
        },
    }
    text = {"content": {"application/json": {"schema": {"type": "object"}}}}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Cairn agent",
            "version": __version__,
            "description": "Attestation evidence of a Cairn confidential VM (docs/agent.md).",
        },
        "paths": {
            "/v1/evidence": {
                "get": {
                    "operationId": "getEvidence",
                    "summary": "Evidence bundle answering the verifier's nonce",
                    "parameters": [
                        {
                            "name": "nonce",
                            "in": "query",
                            "required": True,
                            "description": "32 random bytes as 64 hex digits",
                            "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "evidence bundle (docs/spec/evidence-bundle.md)",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/EvidenceBundle"}
                                }
                            },
                        },
                        "400": _problem("missing or malformed nonce"),
                        "429": _problem("too many requests waiting for the hardware"),
                        "503": _problem("hardware error/timeout or failed self-check"),
                    },
                }
            },
            "/v1/services": {
                "get": {
                    "operationId": "listServices",
                    "summary": "System, services and the tree root",
                    "responses": {"200": {"description": "services", **text}},
                }
            },
            "/v1/services/{name}/proof": {
                "get": {
                    "operationId": "serviceProof",
                    "summary": "Inclusion proof of one service (cairn tree verify)",
                    "parameters": [
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "maxLength": 64},
                        }
                    ],
                    "responses": {
                        "200": {"description": "proof document", **text},
                        "404": _problem("unknown service"),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "responses": {
                        "200": {"description": "serving", **text},
                        "503": {"description": "not serving evidence", **text},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {"schemas": components},
    }
    too_large = _problem(
        "the request carries a body (no endpoint takes one) or its line and headers exceed "
        "limits.max_request_bytes"
    )
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["responses"]["413"] = too_large
    rewritten: dict[str, Any] = _rewrite_refs(document)
    return rewritten


def _rewrite_refs(node: Any) -> Any:
    """JSON Schema ``#/$defs/X`` references become OpenAPI ``#/components/schemas/X``."""
    if isinstance(node, dict):
        return {
            k: (
                v.replace("#/$defs/", "#/components/schemas/")
                if k == "$ref" and isinstance(v, str)
                else _rewrite_refs(v)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node
