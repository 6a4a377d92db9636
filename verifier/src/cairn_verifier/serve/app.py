"""``cairn serve``'s HTTP API (aiohttp): challenge, attest, resources, admin, JWKS, health.

Every error is an RFC 9457 problem document (``application/problem+json``) with a stable
``type``; nothing a client sends produces a 5xx or a traceback. The database being unreachable
is 503 with ``Retry-After``: nothing is released and nothing is answered that the audit log does
not hold (a release or refusal is appended in the transaction that decides it, before the answer
is sent). Request heads are bounded by ``limits.max_request_bytes``, bodies by
``limits.max_body_bytes`` (refused with 413 before they are read when announced larger),
compressed bodies are refused, JSON is parsed with the verifier's depth and integer limits and
every object is checked for exactly its members. Challenge and attest are rate-limited per client
(429 with ``Retry-After``); resource requests without a valid token are not audited one by one but
counted and audited as one ``unauthenticated`` summary entry per interval (``abuse.py``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import hdrs, web
from joserfc import jwe
from joserfc.jwk import ECKey, OKPKey
from pydantic import ValidationError

from ..checks import VerificationResult
from ..documents import parse_json
from ..errors import CairnError
from ..evidence.models import EvidenceBundle, load_evidence
from ..evidence.request import EvidenceVerifyRequest
from ..evidence.verify import verify_evidence
from ..policy import validation_message
from ..policy_document import CairnPolicy
from ..snp.kds import KdsClient
from ..snp.reference_values import ReferenceValues
from ..tdx.pcs import PcsClient
from ..x509.cert import Certificate
from . import ear
from .abuse import IpNetwork, RateLimiter, UnauthenticatedRequests, client_address, parse_networks
from .config import ServeConfig
from .expect import expect_handler, route_unmatched_quietly
from .openapi import openapi_document
from .problems import ProblemError, problem_response
from .resources import ResourcePolicy, evaluate
from .store import DatabaseUnavailableError, Resource, Store

log = logging.getLogger("cairn.serve")
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NONCE_RE = re.compile(r"[0-9a-f]{64}")
RESOURCE_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
MAX_SECRET_BYTES = 64 * 1024
MAX_HEADERS = 64
RETRY_AFTER = "5"


@dataclass
class Broker:
    """Everything the handlers share."""

    config: ServeConfig
    store: Store
    signing_key: ECKey
    kid: str
    policy: CairnPolicy
    policy_id: str
    reference_values: ReferenceValues | None
    simulated_roots: tuple[Certificate, ...]
    kds: KdsClient
    pcs: PcsClient
    executor: ThreadPoolExecutor
    verification_keys: tuple[ECKey, ...] = ()
    """Earlier signing keys still accepted and published (a rotation)."""
    verifications: asyncio.Semaphore | None = None
    accepted_keys: dict[str, ECKey] = field(init=False)
    limiter: RateLimiter = field(init=False)
    proxies: tuple[IpNetwork, ...] = field(init=False)
    unauthenticated: UnauthenticatedRequests = field(default_factory=UnauthenticatedRequests)
    summaries: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        limits = self.config.limits
        self.limiter = RateLimiter(limits.rate_limit_per_minute, limits.rate_limit_burst)
        self.proxies = parse_networks(limits.trusted_proxies)
        self.accepted_keys = {self.kid: self.signing_key}
        self.accepted_keys.update((k.thumbprint(), k) for k in self.verification_keys)

    async def run(self, call: Callable[[], T]) -> T:
        """A blocking call (database, verification) in the worker pool."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    async def db(self, call: Callable[[], T]) -> T:
        """A database call; 503 with Retry-After when the database is unreachable."""
        try:
            return await self.run(call)
        except DatabaseUnavailableError as exc:
            log.error("database unavailable: %s", exc)
            raise ProblemError(
                503,
                "database-unavailable",
                "The broker's database is unavailable",
                "nothing was released or recorded; retry shortly",
                headers={"Retry-After": RETRY_AFTER},
            ) from exc


BROKER: web.AppKey[Broker] = web.AppKey("broker", Broker)


def _now() -> tuple[int, int]:
    """(Unix seconds, Unix milliseconds) of one moment."""
    ms = int(time.time() * 1000)
    return ms // 1000, ms


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- request bodies -------------------------------------------------------------------------------


async def _json_body(request: web.Request, what: str) -> Any:
    if request.headers.get("Content-Encoding"):
        raise ProblemError(
            415, "unsupported-encoding", "Compressed bodies are not accepted",
            "send the JSON body without Content-Encoding",
        )  # fmt: skip
    if request.content_type != "application/json":
        raise ProblemError(
            415, "unsupported-media-type", "JSON required",
            f"{what} is application/json; got {request.content_type[:64]!r}",
        )  # fmt: skip
    body = await request.read()
    try:
        return parse_json(body, what, component="request")
    except CairnError as exc:
        raise ProblemError(400, "malformed-request", "Malformed JSON body", exc.message) from None


def _members(
    document: Any, what: str, required: set[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ProblemError(
            400, "malformed-request", "Malformed request", f"{what} must be a JSON object"
        )
    keys = set(document)
    missing, unknown = sorted(required - keys), sorted(keys - required - optional)
    if missing or unknown:
        parts = ([f"missing: {missing}"] if missing else []) + (
            [f"unknown: {unknown}"] if unknown else []
        )
        raise ProblemError(
            400, "malformed-request", "Malformed request", f"{what}: {'; '.join(parts)}"
        )
    return document


def _b64url(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,1024}", text):
        raise ProblemError(
            400, "malformed-request", "Malformed request", f"{what} is not base64url"
        )
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ProblemError(
            400, "malformed-request", "Malformed request", f"{what} is not base64url"
        ) from None


def _channel_key(document: Any) -> tuple[bytes, dict[str, str]]:
    """The X25519 public key of a JWK ``{"kty": "OKP", "crv": "X25519", "x": …}``."""
    jwk = _members(document, "channel_key", {"kty", "crv", "x"})
    if jwk["kty"] != "OKP" or jwk["crv"] != "X25519":
        raise ProblemError(
            400, "malformed-request", "Unsupported channel key",
            'channel_key must be an X25519 JWK: {"kty": "OKP", "crv": "X25519", "x": …}',
        )  # fmt: skip
    raw = _b64url(jwk["x"], "channel_key.x")
    if len(raw) != 32 or raw == bytes(32):
        raise ProblemError(
            400,
            "malformed-request",
            "Malformed request",
            "channel_key.x is not a 32-byte X25519 key",
        )
    return raw, {"kty": "OKP", "crv": "X25519", "x": jwk["x"]}


# --- abuse limits --------------------------------------------------------------------------------


def _rate_limit(request: web.Request) -> None:
    """429 with Retry-After when this client has used up its challenge/attest requests."""
    broker = request.app[BROKER]
    if not broker.limiter.enabled:
        return
    client = client_address(
        request.remote, request.headers.getall("X-Forwarded-For", []), broker.proxies
    )
    wait = broker.limiter.admit(client)
    if wait is not None:
        limits = broker.config.limits
        raise ProblemError(
            429,
            "rate-limited",
            "Too many requests",
            f"this client may send {limits.rate_limit_per_minute} challenge and attest requests "
            f"a minute (bursts of {limits.rate_limit_burst}); retry in {wait} s",
            headers={"Retry-After": str(wait)},
        )


def _unauthenticated(broker: Broker, problem: ProblemError, at_ms: int) -> ProblemError:
    """Count a resource request refused before a valid token (audited in a summary entry)."""
    broker.unauthenticated.count(problem.kind, at_ms)
    return problem


def _record_summary(broker: Broker) -> None:
    """Append the ``unauthenticated`` summary, if any (blocking; counts kept when it fails)."""
    summary = broker.unauthenticated.take()
    if summary is None:
        return
    try:
        broker.store.audit("unauthenticated", summary, int(time.time() * 1000))
    except DatabaseUnavailableError as exc:
        broker.unauthenticated.put_back(summary)
        log.error("database unavailable; unauthenticated requests stay counted: %s", exc)


async def _summaries(broker: Broker) -> None:
    interval = broker.config.limits.unauthenticated_audit_seconds
    while True:
        await asyncio.sleep(interval)
        try:
            await broker.run(lambda: _record_summary(broker))
        except Exception:  # a bug: logged, the counting goes on
            log.exception("recording the unauthenticated-requests summary failed")


# --- public endpoints ----------------------------------------------------------------------------


async def challenge(request: web.Request) -> web.Response:
    broker = request.app[BROKER]
    _rate_limit(request)
    if request.body_exists:
        body = await request.read()
        if body.strip() not in (b"", b"{}"):
            raise ProblemError(
                400,
                "malformed-request",
                "Malformed request",
                "the challenge takes no parameters (send {} or nothing)",
            )
    now, now_ms = _now()
    lifetime = broker.config.attestation.nonce_lifetime_seconds
    nonce = secrets.token_hex(32)
    await broker.db(lambda: broker.store.issue_nonce(nonce, now_ms, now_ms + lifetime * 1000))
    return web.json_response(
        {"nonce": nonce, "expires_at": _iso(now + lifetime), "expires_in": lifetime}, status=201
    )


_NONCE_PROBLEMS = {
    "unknown": (
        400,
        "nonce-unknown",
        "Unknown nonce",
        "this broker did not issue that nonce, or it expired over a day ago: POST "
        "/v1/challenge for one",
    ),
    "expired": (
        400,
        "nonce-expired",
        "Expired nonce",
        "the nonce expired before the evidence arrived: POST /v1/challenge for a fresh one",
    ),
    "used": (
        409,
        "nonce-used",
        "Nonce already used",
        "each nonce is redeemed once; replayed evidence is refused: POST /v1/challenge for a "
        "fresh one",
    ),
}


def _verify(
    broker: Broker, bundle: EvidenceBundle, nonce: bytes, channel: bytes
) -> VerificationResult:
    request = EvidenceVerifyRequest(
        nonce=nonce,
        at=datetime.now(UTC),
        policy=broker.policy,
        kds=broker.kds,
        fetch_tdx_collateral=broker.pcs.fetch_collateral,
        subject="attestation",
        simulated_roots=broker.simulated_roots,
        reference_values=broker.reference_values,
        channel_key=channel,
    )
    return verify_evidence(bundle, request)


async def attest(request: web.Request) -> web.Response:
    broker = request.app[BROKER]
    _rate_limit(request)
    document = _members(
        await _json_body(request, "the attestation request"),
        "the attestation request",
        {"nonce", "channel_key", "evidence"},
    )
    nonce_hex = document["nonce"]
    if not isinstance(nonce_hex, str) or not NONCE_RE.fullmatch(nonce_hex):
        raise ProblemError(
            400,
            "malformed-request",
            "Malformed request",
            "nonce must be the 64 lowercase hex digits /v1/challenge issued",
        )
    channel, channel_jwk = _channel_key(document["channel_key"])
    try:
        bundle = load_evidence(json.dumps(document["evidence"]).encode(), "the evidence bundle")
    except CairnError as exc:
        raise ProblemError(
            400, "malformed-evidence", "Malformed evidence bundle", exc.message
        ) from None
    now, now_ms = _now()
    outcome = await broker.db(lambda: broker.store.redeem_nonce(nonce_hex, now_ms))
    if outcome != "redeemed":
        status, kind, title, detail = _NONCE_PROBLEMS[outcome]
        audit = {"reason": kind, "nonce": nonce_hex}
        await broker.db(lambda: broker.store.audit("attest-refused", audit, now_ms))
        raise ProblemError(status, kind, title, detail)
    if broker.verifications is None:
        broker.verifications = asyncio.Semaphore(broker.config.limits.max_verifications)
    async with broker.verifications:
        result = await broker.run(
            lambda: _verify(broker, bundle, bytes.fromhex(nonce_hex), channel)
        )
    services = [
        {"name": s.name, "store_path": s.store_path, "public_key": s.public_key.hex()}
        for s in bundle.claims.services
    ]
    appraisal = ear.appraise(result, services)
    lifetime = broker.config.signing.result_lifetime_seconds
    claims = ear.build_claims(
        appraisal,
        policy_id=broker.policy_id,
        issuer=broker.config.signing.issuer,
        nonce=bytes.fromhex(nonce_hex),
        channel_jwk=channel_jwk,
        now=now,
        lifetime=lifetime,
    )
    token = ear.sign(claims, broker.signing_key, broker.kid)
    evidence = appraisal["cairn.evidence"]
    audit = {
        "token_id": claims["jti"],
        "nonce": nonce_hex,
        "status": appraisal["ear.status"],
        "policy_id": broker.policy_id,
        "tee_kind": evidence["tee_kind"],
        "measurement": evidence["measurement"],
        "failed_checks": evidence["failed_checks"],
    }
    await broker.db(lambda: broker.store.audit("attest", audit, now_ms))
    return web.json_response(
        {
            "token": token,
            "status": appraisal["ear.status"],
            "expires_at": _iso(now + lifetime),
            "failed_checks": evidence["failed_checks"],
            "warnings": evidence["warnings"],
        }
    )


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


async def _refuse(
    broker: Broker, problem: ProblemError, detail: dict[str, Any], at: int
) -> ProblemError:
    """Audit a refusal (503 instead when it cannot be recorded), then return the problem."""
    await broker.db(
        lambda: broker.store.audit(
            "refusal", {**detail, "reason": problem.kind, "detail": problem.detail}, at
        )
    )
    return problem


def _wrap(secret: bytes, jwk: dict[str, str], name: str) -> str:
    """The secret as a compact JWE (ECDH-ES, A256GCM) to the guest's channel key; the protected
    header (authenticated) names the resource."""
    header = {"alg": "ECDH-ES", "enc": "A256GCM", "kid": name, "cty": "application/octet-stream"}
    key = OKPKey.import_key(dict[str, "str | list[str]"](jwk))
    return jwe.encrypt_compact(header, secret, key)


async def resource(request: web.Request) -> web.Response:
    broker = request.app[BROKER]
    name = request.match_info["name"]
    now, now_ms = _now()
    base: dict[str, Any] = {"resource": name[:128]}
    token = _bearer(request)
    if token is None:
        raise _unauthenticated(
            broker,
            ProblemError(
                401,
                "token-required",
                "Attestation result required",
                "send the token /v1/attest returned as Authorization: Bearer …",
                headers={"WWW-Authenticate": "Bearer"},
            ),
            now_ms,
        )
    try:
        claims = ear.verify(
            token, broker.accepted_keys, issuer=broker.config.signing.issuer, now=now
        )
    except ear.TokenError as exc:
        raise _unauthenticated(
            broker,
            ProblemError(
                401,
                exc.kind,
                "Attestation result not accepted",
                exc.message,
                headers={"WWW-Authenticate": "Bearer"},
            ),
            now_ms,
        ) from None
    token_id = str(claims.get("jti"))
    appraisal = claims["submods"][ear.SUBMODULE]
    evidence = appraisal["cairn.evidence"]
    detail = {
        **base,
        "token_id": token_id,
        "status": appraisal["ear.status"],
        "measurement": evidence.get("measurement"),
        "tee_kind": evidence.get("tee_kind"),
        "nonce": claims.get("eat_nonce"),
    }
    found = None
    if RESOURCE_RE.fullmatch(name):
        found = await broker.db(lambda: broker.store.resource(name))
    if found is None:
        raise await _refuse(
            broker,
            ProblemError(
                404, "unknown-resource", "No such resource", f"no resource named {name[:128]!r}"
            ),
            detail,
            now_ms,
        )
    policy = ResourcePolicy.model_validate_json(found.policy)
    reasons = evaluate(policy, claims, now)
    if reasons:
        raise await _refuse(
            broker,
            ProblemError(
                403,
                "policy-refused",
                "The resource's policy refuses this attestation result",
                "; ".join(reasons),
            ),
            detail,
            now_ms,
        )
    wrapped = _wrap(base64.b64decode(found.secret), claims["cnf"]["jwk"], name)
    released = await broker.db(lambda: broker.store.release(token_id, name, now_ms, detail))
    if not released:
        raise await _refuse(
            broker,
            ProblemError(
                409,
                "result-already-used",
                "Attestation result already used",
                f"this attestation result already obtained {name!r}; each result releases a "
                "resource once: attest again",
            ),
            detail,
            now_ms,
        )
    return web.Response(body=wrapped.encode("ascii"), content_type="application/jose")


async def jwks(request: web.Request) -> web.Response:
    broker = request.app[BROKER]
    return web.json_response(
        {
            "keys": [
                {**key.as_dict(private=False), "kid": kid, "alg": ear.ALGORITHM, "use": "sig"}
                for kid, key in broker.accepted_keys.items()
            ]
        }
    )


async def healthz(request: web.Request) -> web.Response:
    broker = request.app[BROKER]
    try:
        version = await broker.run(broker.store.schema_version)
    except DatabaseUnavailableError:
        return web.json_response(
            {"status": "unavailable", "database": "unreachable"},
            status=503,
            headers={"Retry-After": RETRY_AFTER},
        )
    return web.json_response(
        {
            "status": "ok",
            "database": broker.store.kind,
            "schema_version": version,
            "appraisal_policy_id": broker.policy_id,
        }
    )


async def openapi(_: web.Request) -> web.Response:
    return web.json_response(openapi_document())


# --- admin ----------------------------------------------------------------------------------------


def _require_admin(request: web.Request) -> None:
    expected = request.app[BROKER].config.admin.token_sha256
    token = _bearer(request)
    if expected is None:
        raise ProblemError(
            403,
            "admin-disabled",
            "The admin API is disabled",
            "set admin.token_sha256 in the configuration",
        )
    given = hashlib.sha256(token.encode()).hexdigest() if token else ""
    if not hmac.compare_digest(given, expected):
        raise ProblemError(
            401,
            "admin-unauthorized",
            "Admin token required",
            "send the admin token as Authorization: Bearer …",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def admin_put_resource(request: web.Request) -> web.Response:
    _require_admin(request)
    broker = request.app[BROKER]
    name = request.match_info["name"]
    if not RESOURCE_RE.fullmatch(name):
        raise ProblemError(
            400,
            "bad-resource-name",
            "Bad resource name",
            "use 1-128 of: lowercase letters, digits, '.', '_', '-' (starting with a letter or "
            "digit)",
        )
    document = _members(
        await _json_body(request, "the resource"), "the resource", {"secret", "policy"}
    )
    secret_text = document["secret"]
    try:
        secret = (
            base64.b64decode(secret_text, validate=True) if isinstance(secret_text, str) else b""
        )
    except (binascii.Error, ValueError):
        secret = b""
    if not 1 <= len(secret) <= MAX_SECRET_BYTES:
        raise ProblemError(
            400,
            "bad-secret",
            "Bad secret",
            f"secret is standard base64 of 1 to {MAX_SECRET_BYTES} bytes",
        )
    try:
        policy = ResourcePolicy.model_validate(document["policy"])
    except ValidationError as exc:
        raise ProblemError(
            400, "bad-policy", "Bad resource policy", validation_message(exc)
        ) from None
    _, now_ms = _now()
    policy_json = policy.model_dump_json()
    audit = {
        "resource": name,
        "policy": json.loads(policy_json),
        "secret_sha256": hashlib.sha256(secret).hexdigest(),
    }
    await broker.db(
        lambda: broker.store.put_resource(
            Resource(name, base64.b64encode(secret).decode(), policy_json, now_ms), audit
        )
    )
    return web.json_response({"name": name, "policy": json.loads(policy_json)}, status=200)


async def admin_list_resources(request: web.Request) -> web.Response:
    _require_admin(request)
    broker = request.app[BROKER]
    found = await broker.db(broker.store.resources)
    return web.json_response(
        {
            "resources": [
                {
                    "name": r.name,
                    "policy": json.loads(r.policy),
                    "updated_at": _iso(r.updated_at // 1000),
                }
                for r in found
            ]
        }
    )


async def admin_delete_resource(request: web.Request) -> web.Response:
    _require_admin(request)
    broker = request.app[BROKER]
    name = request.match_info["name"]
    _, now_ms = _now()
    gone = await broker.db(
        lambda: broker.store.delete_resource(name, {"resource": name[:128]}, now_ms)
    )
    if not gone:
        raise ProblemError(
            404, "unknown-resource", "No such resource", f"no resource named {name[:128]!r}"
        )
    return web.Response(status=204)


async def admin_audit(request: web.Request) -> web.Response:
    _require_admin(request)
    broker = request.app[BROKER]
    query = request.rel_url.query
    unknown = sorted(set(query) - {"after", "limit"})
    after, limit = query.get("after", "0"), query.get("limit", "100")
    if (
        unknown
        or not after.isdigit()
        or not limit.isdigit()
        or not 1 <= int(limit) <= 1000
        or len(after) > 19
    ):
        raise ProblemError(
            400, "bad-query", "Bad query", "after: a sequence number; limit: 1-1000; nothing else"
        )
    rows = await broker.db(lambda: broker.store.audit_rows(int(after), int(limit)))
    return web.json_response(
        {"entries": [{**r.record(), "prev_hash": r.prev_hash, "hash": r.hash} for r in rows]}
    )


# --- middleware and the application ---------------------------------------------------------------


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bound the head, map every failure to a problem document, never leak a traceback."""
    try:
        head = (
            len(request.method)
            + len(request.raw_path)
            + 12
            + sum(len(k) + len(v) + 4 for k, v in request.raw_headers)
        )
        limit = request.app[BROKER].config.limits.max_request_bytes
        if head > limit:
            raise ProblemError(
                413,
                "too-large",
                "Request too large",
                f"the request line and headers are {head} bytes; the limit is {limit}",
            )
        return await handler(request)
    except ProblemError as problem:
        return problem_response(problem, request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kinds = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}
        detail = exc.text or exc.reason
        if exc.status == 413:
            limit = request.app[BROKER].config.limits.max_body_bytes
            detail = f"the body is larger than limits.max_body_bytes ({limit} bytes)"
        return problem_response(
            ProblemError(exc.status, kinds.get(exc.status, "bad-request"), exc.reason, detail),
            request.path,
        )
    except Exception:  # a bug: log it, answer without details
        log.exception("unexpected error on %s", request.path)
        return problem_response(
            ProblemError(500, "internal", "Internal error", "the broker hit a bug; see its log"),
            request.path,
        )


async def _server_header(_: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = "cairn-serve"


def make_app(broker: Broker) -> web.Application:
    limits = broker.config.limits
    app = web.Application(
        middlewares=[problems],
        client_max_size=limits.max_body_bytes,
        handler_args={
            "max_line_size": limits.max_request_bytes,
            "max_field_size": limits.max_request_bytes,
            "max_headers": MAX_HEADERS,
            "auto_decompress": False,
            "lingering_time": 0,  # a body left unread closes the connection: never drained
        },
    )
    app[BROKER] = broker
    app.on_response_prepare.append(_server_header)
    routes: list[tuple[str, str, Handler]] = [
        (hdrs.METH_POST, "/v1/challenge", challenge),
        (hdrs.METH_POST, "/v1/attest", attest),
        (hdrs.METH_GET, "/v1/resources/{name}", resource),
        (hdrs.METH_GET, "/v1/jwks", jwks),
        (hdrs.METH_GET, "/healthz", healthz),
        (hdrs.METH_GET, "/openapi.json", openapi),
        (hdrs.METH_GET, "/v1/admin/resources", admin_list_resources),
        (hdrs.METH_PUT, "/v1/admin/resources/{name}", admin_put_resource),
        (hdrs.METH_DELETE, "/v1/admin/resources/{name}", admin_delete_resource),
        (hdrs.METH_GET, "/v1/admin/audit", admin_audit),
    ]
    answer_expectation = expect_handler(limits.max_body_bytes)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler, expect_handler=answer_expectation)
    route_unmatched_quietly(app.router)

    async def start(_: web.Application) -> None:
        broker.summaries = asyncio.create_task(_summaries(broker))

    async def close(_: web.Application) -> None:
        if broker.summaries is not None:
            broker.summaries.cancel()
        try:
            await broker.run(lambda: _record_summary(broker))  # what the last interval counted
        except Exception:
            log.exception("recording the last unauthenticated-requests summary failed")
        broker.executor.shutdown(wait=False, cancel_futures=True)
        broker.store.close()

    app.on_startup.append(start)
    app.on_cleanup.append(close)
    return app
