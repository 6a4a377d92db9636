"""The OpenAPI 3.1 description of ``cairn serve``'s API (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from .. import __version__

_PROBLEM = {"$ref": "#/components/responses/Problem"}
_UNAVAILABLE = {"$ref": "#/components/responses/Unavailable"}
_LIMITED = {"$ref": "#/components/responses/RateLimited"}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}


def json_body(ref: str) -> dict[str, Any]:
    """A required JSON request body of the named schema."""
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def openapi_document() -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    name = [
        {
            "name": "name",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,127}$"},
        }
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "cairn serve",
            "version": __version__,
            "description": "Attestation verifier and key broker (docs/serve.md). Errors are "
            "RFC 9457 problem documents.",
        },
        "paths": {
            "/v1/challenge": {
                "post": _op(
                    "Issue a single-use nonce",
                    {
                        "201": {
                            "description": "a nonce",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Challenge"}
                                }
                            },
                        },
                        "400": _PROBLEM,
                        "429": _LIMITED,
                        "503": _UNAVAILABLE,
                    },
                )
            },
            "/v1/attest": {
                "post": _op(
                    "Verify an evidence bundle; answer a signed EAR attestation result",
                    {
                        "200": {
                            "description": "the EAR (JWT) and its status",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/AttestationResult"}
                                }
                            },
                        },
                        "400": _PROBLEM,
                        "409": _PROBLEM,
                        "413": _PROBLEM,
                        "415": _PROBLEM,
                        "429": _LIMITED,
                        "503": _UNAVAILABLE,
                    },
                    requestBody=json_body("AttestRequest"),
                )
            },
            "/v1/resources/{name}": {
                "get": _op(
                    "A resource's secret as a JWE to the attested channel key",
                    {
                        "200": {
                            "description": "compact JWE (ECDH-ES, A256GCM)",
                            "content": {"application/jose": {"schema": {"type": "string"}}},
                        },
                        "401": _PROBLEM,
                        "403": _PROBLEM,
                        "404": _PROBLEM,
                        "409": _PROBLEM,
                        "503": _UNAVAILABLE,
                    },
                    parameters=name,
                    security=bearer,
                )
            },
            "/v1/jwks": {
                "get": _op(
                    "The key attestation results are signed with",
                    {"200": {"description": "JWK set"}},
                )
            },
            "/healthz": {
                "get": _op("Health", {"200": {"description": "serving"}, "503": _UNAVAILABLE})
            },
            "/openapi.json": {"get": _op("This document", {"200": {"description": "OpenAPI 3.1"}})},
            "/v1/admin/resources": {
                "get": _op(
                    "List resources (never their secrets)",
                    {
                        "200": {"description": "resources"},
                        "401": _PROBLEM,
                        "403": _PROBLEM,
                        "503": _UNAVAILABLE,
                    },
                    security=bearer,
                )
            },
            "/v1/admin/resources/{name}": {
                "put": _op(
                    "Create or replace a resource",
                    {
                        "200": {"description": "stored"},
                        "400": _PROBLEM,
                        "401": _PROBLEM,
                        "403": _PROBLEM,
                        "503": _UNAVAILABLE,
                    },
                    parameters=name,
                    security=bearer,
                    requestBody=json_body("ResourceRequest"),
                ),
                "delete": _op(
                    "Delete a resource",
                    {
                        "204": {"description": "deleted"},
                        "401": _PROBLEM,
                        "403": _PROBLEM,
                        "404": _PROBLEM,
                        "503": _UNAVAILABLE,
                    },
                    parameters=name,
                    security=bearer,
                ),
            },
            "/v1/admin/audit": {
                "get": _op(
                    "Audit log entries after a sequence number",
                    {
                        "200": {"description": "entries"},
                        "400": _PROBLEM,
                        "401": _PROBLEM,
                        "403": _PROBLEM,
                        "503": _UNAVAILABLE,
                    },
                    security=bearer,
                    parameters=[
                        {
                            "name": "after",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                    ],
                )
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Problem": {
                    "description": "RFC 9457 problem",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                },
                "Unavailable": {
                    "description": "the database is unavailable (Retry-After)",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                },
                "RateLimited": {
                    "description": "this client's challenge/attest rate is used up (Retry-After)",
                    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                },
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "instance": {"type": "string"},
                    },
                },
                "Challenge": {
                    "type": "object",
                    "required": ["nonce", "expires_at", "expires_in"],
                    "properties": {
                        "nonce": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                        "expires_at": {"type": "string"},
                        "expires_in": {"type": "integer"},
                    },
                },
                "AttestRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["nonce", "channel_key", "evidence"],
                    "properties": {
                        "nonce": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                        "channel_key": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["kty", "crv", "x"],
                            "properties": {
                                "kty": {"const": "OKP"},
                                "crv": {"const": "X25519"},
                                "x": {"type": "string"},
                            },
                        },
                        "evidence": {
                            "type": "object",
                            "description": "a Cairn evidence bundle (docs/spec/evidence-bundle.md)",
                        },
                    },
                },
                "AttestationResult": {
                    "type": "object",
                    "required": ["token", "status", "expires_at", "failed_checks", "warnings"],
                    "properties": {
                        "token": {"type": "string"},
                        "status": {"enum": ["affirming", "warning", "contraindicated"]},
                        "expires_at": {"type": "string"},
                        "failed_checks": {"type": "array", "items": {"type": "string"}},
                        "warnings": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "ResourceRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["secret", "policy"],
                    "properties": {
                        "secret": {"type": "string", "description": "standard base64"},
                        "policy": {
                            "type": "object",
                            "description": "docs/serve.md, resource policies",
                        },
                    },
                },
            },
        },
    }
